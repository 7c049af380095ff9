"""End to end through Airflow: news_ingest then news_curate with dag.test() on the bundled sample site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from newsflow.sample import StaticSite
from newsflow.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.utils import db

    from newsflow.quality import ensure_project

    db.initdb()
    home = tmp_path_factory.mktemp("nf-home")
    ensure_project(home)  # `newsflow quality-setup`: the GX project is set up once, the DAG only runs it
    with StaticSite(port=0) as site:
        feeds = home / "feeds.yaml"
        feeds.write_text(
            f"allow_hosts: ['127.0.0.1:{site.port}']\nfeeds:\n"
            + "".join(
                f"  - {{name: {name}, url: '{site.base_url}/feeds/{path}'}}\n"
                for name, path in [
                    ("world", "world.xml"),
                    ("americas", "americas.atom"),
                    ("briefs", "briefs.rdf"),
                ]
            )
            + "settings: {per_host_min_delay_s: 0}\n"
        )
        mp = pytest.MonkeyPatch()
        mp.setenv("NEWSFLOW_HOME", str(home))
        mp.setenv("NEWSFLOW_FEEDS", str(feeds))
        bag = BundleDagBag(
            dag_folder=str(ROOT / "dags"), bundle_path=ROOT / "dags", bundle_name="dags-folder"
        )
        yield {"home": home, "site": site, "dags": bag.dags}
        mp.undo()


INGEST_DEFAULTS = {"feeds": [], "max_items": None, "force": False}


def run(env: dict[str, Any], dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    # Full conf every time: repeated dag.test() calls on one DAG object were seen to carry params over.
    conf = {**INGEST_DEFAULTS, **(conf or {})} if dag_id == "news_ingest" else conf or {}
    dagrun = env["dags"][dag_id].test(run_conf=conf)
    assert str(dagrun.state) in ("success", "DagRunState.SUCCESS"), dagrun.state
    return dagrun


def tables(home: Path) -> dict[str, list[tuple[object, ...]]]:
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        return {
            t: wh.query(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in ("articles", "items", "article_topics")
        }


def test_ingest_then_curate_then_nothing_new(airflow_env: dict[str, Any]) -> None:
    home: Path = airflow_env["home"]
    run(airflow_env, "news_ingest")
    assert len(list((home / "staging").glob("*/manifest.json"))) == 1
    run(airflow_env, "news_curate")
    with Warehouse(home / "warehouse.published.duckdb", read_only=True) as wh:  # analysts' snapshot
        assert wh.query("SELECT count(*) FROM v_articles")[1] == [(12,)]
        seed = wh.query("SELECT topics FROM v_articles WHERE url LIKE '%us-mexico-migration-talks%'")[1]
        assert seed == [(["aid", "border", "diplomacy"],)]
        assert wh.query("SELECT status, count(*) FROM items GROUP BY 1 ORDER BY 1")[1] == [
            ("duplicate", 1),
            ("loaded", 12),
        ]
        assert wh.ledger_violations() == []
    first = tables(home)
    pages = {p: n for p, n in airflow_env["site"].hits.items() if p.startswith("/articles/")}

    # A second full run, every feed forced: 304s, no article fetched, nothing changed.
    run(airflow_env, "news_ingest", {"force": True})
    run(airflow_env, "news_curate")
    assert {p: n for p, n in airflow_env["site"].hits.items() if p.startswith("/articles/")} == pages
    assert tables(home) == first
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        polls = wh.query("SELECT status, count(*) FROM feed_polls GROUP BY 1 ORDER BY 1")[1]
        assert polls == [("not_modified", 3), ("ok", 3)]
        assert wh.ledger_violations() == []

    # Not due and not forced: the run skips staging and emits no Asset event.
    dagrun = run(airflow_env, "news_ingest")
    states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
    assert "skipped" in states["stage_complete"]


def test_manual_run_of_one_feed_with_a_cap(airflow_env: dict[str, Any]) -> None:
    home: Path = airflow_env["home"]
    before = len(list((home / "staging").glob("*/manifest.json")))
    dagrun = run(airflow_env, "news_ingest", {"feeds": ["briefs"], "max_items": 2})
    polled = [ti for ti in dagrun.get_task_instances() if ti.task_id == "poll"]
    port = airflow_env["site"].port
    assert [ti.rendered_map_index for ti in polled] == [f"127.0.0.1:{port} (1 feed)"]  # labelled by host
    assert len(list((home / "staging").glob("*/manifest.json"))) == before + 1
