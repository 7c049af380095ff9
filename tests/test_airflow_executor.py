"""The product path: `make airflow`'s deployment (airflow standalone: a real scheduler, LocalExecutor, the
api-server, the dag-processor) ingesting dozens of feeds on several loopback hosts, with batches big enough
that extraction and classification run in their worker processes inside real task processes.

Each run is triggered through the REST API and waited for within a time limit that catches a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPUS, need_shared
from live_airflow import LiveAirflow, LiveSite, news_site
from newsflow.config import load_feeds_file
from newsflow.run import poll_groups
from newsflow.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

# 270 articles: fetch batches of up to 25 items and a curate run of 270 articles, each above the size at which
# extraction (16) and classification (256) start their worker processes.
FEEDS, PER_FEED, HOSTS = 30, 9, 8
RUN_LIMIT_S = 300  # a hang shows as a run still going at this limit
SETTINGS = {"per_host_min_delay_s": 0, "poll_group_size": 8}  # 30 feeds on 8 hosts: a few poll tasks


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pages = sorted(need_shared(CORPUS / "articles" / "aeb").glob("*.html"))
    root = tmp_path_factory.mktemp("live")
    with news_site(root / "site", pages, feeds=FEEDS, per_feed=PER_FEED, hosts=HOSTS) as site:
        feeds = site.feeds_file(root / "feeds.yaml", **SETTINGS)
        env = {
            "NEWSFLOW_HOME": str(root / "home"),
            "NEWSFLOW_FEEDS": str(feeds),
            "NEWSFLOW_INGEST_SCHEDULE": "none",  # runs are triggered by the test only
            "NEWSFLOW_RETRY_DELAY_S": "1",
        }
        with LiveAirflow(root / "airflow", env) as airflow:
            yield {"airflow": airflow, "site": site, "home": root / "home", "feeds": feeds}


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
    polls = [t for t in tis if t["task_id"] == "poll"]
    config = load_feeds_file(deployment["feeds"])
    groups = poll_groups(config, [{"feed": f.name} for f in config.feeds])
    assert 1 < len(polls) == len(groups) < FEEDS  # groups of feeds by host, not one task per feed
    assert sorted(t["rendered_map_index"] for t in polls) == sorted(g["label"] for g in groups)
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


def test_a_quality_gate_that_trips_loads_the_rest_and_fails_the_run(
    deployment: dict[str, Any],
) -> None:
    """A feed whose entries all claim a publication date in 2099: every article fails validation, so the
    batch passes ``max_quarantine_share``: the rows go to quarantine, the load commits, and the run fails."""
    airflow: LiveAirflow = deployment["airflow"]
    site: LiveSite = deployment["site"]
    home: Path = deployment["home"]
    pages = sorted({name for url, name in site.pages.items() if url.startswith(site.sites[0].base_url)})
    site.add_feed("future", 0, [(page, "Fri, 25 Dec 2099 10:00:00 GMT") for page in pages[:20]])
    site.feeds_file(deployment["feeds"], **SETTINGS)  # read by every task at run time
    curate_before = {r["dag_run_id"] for r in airflow.runs("news_curate")}
    run_id = airflow.trigger("news_ingest", {"feeds": ["future"]})
    assert airflow.wait_run("news_ingest", run_id, RUN_LIMIT_S)["state"] == "success"
    curate = airflow.wait_new_run("news_curate", curate_before, RUN_LIMIT_S)
    assert curate["state"] == "failed"
    tis = airflow.task_instances("news_curate", curate["dag_run_id"])
    states = {t["task_id"]: t["state"] for t in tis}
    assert states == {
        "classify": "success",
        "validate": "success",
        "load": "success",
        "quality_gate": "failed",
    }
    log = airflow.task_log("news_curate", curate["dag_run_id"], "quality_gate")
    assert "failed validation" in log and "the rest loaded" in log
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        feed_items = dict(wh.query("SELECT status, count(*) FROM items WHERE feed = 'future' GROUP BY 1")[1])
        reasons = wh.query(
            "SELECT q.reasons FROM quarantine q JOIN items i USING (item_id) WHERE i.feed = 'future'"
        )[1]
        violations = wh.query("SELECT * FROM v_ledger_violations")[1]
    assert feed_items == {"quarantined": 20}
    assert len(reasons) == 20 and all(any("published_at_not_future" in r for r in rs) for (rs,) in reasons)
    assert violations == []


def test_reclassify_and_maintenance_run_through_the_real_executor(deployment: dict[str, Any]) -> None:
    airflow: LiveAirflow = deployment["airflow"]
    home: Path = deployment["home"]
    run_id = airflow.trigger("news_reclassify")
    assert airflow.wait_run("news_reclassify", run_id, RUN_LIMIT_S)["state"] == "success", airflow.describe(
        "news_reclassify", run_id
    )
    run = airflow.call(
        "POST", "/api/v2/dags/news_maintenance/dagRuns", {"logical_date": "2026-11-25T00:00:00Z", "conf": {}}
    )
    done = airflow.wait_run("news_maintenance", run["dag_run_id"], RUN_LIMIT_S)
    assert done["state"] == "success", airflow.describe("news_maintenance", run["dag_run_id"])
    with Warehouse(home / "warehouse.published.duckdb", read_only=True) as wh:  # the checkpoint republished
        articles = wh.query("SELECT count(*) FROM v_articles")[1][0][0]
        classified = wh.query("SELECT count(DISTINCT article_id) FROM article_topics")[1][0][0]
    assert articles == classified == FEEDS * PER_FEED  # quarantined rows are not articles


def test_reextract_runs_through_the_real_executor(deployment: dict[str, Any]) -> None:
    """news_reextract restores what an older extractor stored (a fragment) in a real task process: extraction
    in worker processes, the gate, the writer's load. A second run changes nothing."""
    from newsflow.articles import EXTRACTOR

    airflow: LiveAirflow = deployment["airflow"]
    home: Path = deployment["home"]
    versions = "SELECT article_id, version, body_hash FROM articles ORDER BY article_id"
    with Warehouse(home / "warehouse.duckdb") as wh:  # no run is active: the test may write
        before = wh.query(versions)[1]
        older = [r[0] for r in before[:20]]
        wh.con.execute(
            "UPDATE articles SET body = 'A fragment.', body_hash = 'old', word_count = 2, "
            "extractor = 'trafilatura-2.3.1' WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
            [older],
        )
    for round_ in (1, 2):
        run_id = airflow.trigger("news_reextract")
        done = airflow.wait_run("news_reextract", run_id, RUN_LIMIT_S)
        assert done["state"] == "success", airflow.describe("news_reextract", run_id)
        with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
            after = wh.query(versions)[1]
            extractors = wh.query("SELECT DISTINCT extractor FROM articles")[1]
            violations = wh.query("SELECT * FROM v_ledger_violations")[1]
        assert [(a, h) for a, _v, h in after] == [(a, h) for a, _v, h in before], round_
        version = {a: v for a, v, _h in before}
        assert {a: v - version[a] for a, v, _h in after if v != version[a]} == dict.fromkeys(older, 1), round_
        assert extractors == [(EXTRACTOR,)] and violations == []


def test_every_article_has_its_story_and_recluster_runs_through_the_real_executor(
    deployment: dict[str, Any],
) -> None:
    """The curate runs gave every article its story in the writer's load; news_recluster rebuilds the same
    stories from the stored signatures."""
    airflow: LiveAirflow = deployment["airflow"]
    home: Path = deployment["home"]
    stories = "SELECT article_id, story_id FROM articles ORDER BY article_id"
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        before = wh.query(stories)[1]
        signed = wh.query("SELECT count(*) FROM article_stories")[1][0][0]
    assert before and all(story for _, story in before) and signed == len(before)
    run_id = airflow.trigger("news_recluster")
    done = airflow.wait_run("news_recluster", run_id, RUN_LIMIT_S)
    assert done["state"] == "success", airflow.describe("news_recluster", run_id)
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        assert wh.query(stories)[1] == before
