"""The product path: `make airflow`'s deployment (airflow standalone: a real scheduler, LocalExecutor, the
api-server, the dag-processor) ingesting dozens of feeds on several loopback hosts, with batches big enough
that extraction and classification run in their worker processes inside real task processes.

Each run is triggered through the REST API and waited for within a time limit that catches a hang.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPUS, need_shared
from live_airflow import LiveAirflow, LiveSite, news_site
from newsflow.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

# 270 articles: fetch batches of up to 25 items and a curate run of 270 articles, each above the size at which
# extraction (16) and classification (256) start their worker processes.
FEEDS, PER_FEED, HOSTS = 30, 9, 8
RUN_LIMIT_S = 300  # a hang shows as a run still going at this limit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pages = sorted(need_shared(CORPUS / "articles" / "aeb").glob("*.html"))
    root = tmp_path_factory.mktemp("live")
    with news_site(root / "site", pages, feeds=FEEDS, per_feed=PER_FEED, hosts=HOSTS) as site:
        feeds = site.feeds_file(root / "feeds.yaml", per_host_min_delay_s=0)
        port = _free_port()
        env = {
            "NEWSFLOW_HOME": str(root / "home"),
            "NEWSFLOW_FEEDS": str(feeds),
            "NEWSFLOW_INGEST_SCHEDULE": "none",  # runs are triggered by the test only
            "NEWSFLOW_RETRY_DELAY_S": "1",
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        }
        with LiveAirflow(root, env, port=port) as airflow:
            yield {"airflow": airflow, "site": site, "home": root / "home"}


def _ingest_and_curate(airflow: LiveAirflow, conf: dict[str, Any] | None = None) -> tuple[dict, dict]:  # type: ignore[type-arg]
    curate_before = {r["dag_run_id"] for r in airflow.runs("news_curate")}
    run_id = airflow.trigger("news_ingest", conf)
    ingest = airflow.wait_run("news_ingest", run_id, RUN_LIMIT_S)
    assert ingest["state"] == "success", airflow.describe("news_ingest", run_id)
    curate = airflow.wait_new_run("news_curate", curate_before, RUN_LIMIT_S)
    assert curate["state"] == "success", airflow.describe("news_curate", curate["dag_run_id"])
    return ingest, curate


def test_dozens_of_feeds_on_several_hosts_load_through_the_real_executor(deployment: dict[str, Any]) -> None:
    airflow: LiveAirflow = deployment["airflow"]
    site: LiveSite = deployment["site"]
    home: Path = deployment["home"]
    ingest, curate = _ingest_and_curate(airflow)

    tis = airflow.task_instances("news_ingest", ingest["dag_run_id"])
    fetches = [t for t in tis if t["task_id"] == "fetch"]
    assert len([t for t in tis if t["task_id"] == "poll"]) == FEEDS
    assert len(fetches) >= 2 and all(t["state"] == "success" for t in fetches)
    log = airflow.task_log("news_ingest", ingest["dag_run_id"], "fetch", map_index=0)
    assert "extraction workers: 2 processes" in log  # the batch really ran in the worker pool
    assert "unexpected error" not in log and "broken" not in log and "in this process" not in log
    log = airflow.task_log("news_curate", curate["dag_run_id"], "classify")
    assert "classification workers: 2 processes" in log and "in this process" not in log

    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        urls = {u for (u,) in wh.query("SELECT url FROM articles")[1]}
        statuses = dict(wh.query("SELECT status, count(*) FROM items GROUP BY 1")[1])
        violations = wh.query("SELECT * FROM v_ledger_violations")[1]
        topics = wh.query("SELECT count(DISTINCT article_id) FROM article_topics")[1][0][0]
    assert urls == set(site.pages), f"missing: {sorted(set(site.pages) - urls)[:5]}"
    assert statuses == {"loaded": FEEDS * PER_FEED}
    assert violations == []
    assert topics == FEEDS * PER_FEED  # classified (the curate run's classify task) before the load


def test_a_second_run_with_nothing_new_fetches_nothing(deployment: dict[str, Any]) -> None:
    airflow: LiveAirflow = deployment["airflow"]
    site: LiveSite = deployment["site"]
    before = {p: n for s in site.sites for p, n in s.hits.items() if p.startswith("/p/")}
    ingest, _ = _ingest_and_curate(airflow, {"force": True})
    after = {p: n for s in site.sites for p, n in s.hits.items() if p.startswith("/p/")}
    assert after == before  # no article page requested again
    tis = airflow.task_instances("news_ingest", ingest["dag_run_id"])
    assert all(t["state"] in ("success", "skipped") for t in tis), airflow.describe(
        "news_ingest", ingest["dag_run_id"]
    )
