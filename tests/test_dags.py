"""DAG integrity: every file imports, every DAG follows the conventions, parse time stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

DAGS = ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("news_*.py"))
HEAVY = {"duckdb", "trafilatura", "great_expectations", "pandas", "feedparser", "pyarrow", "newsflow", "lxml"}
WRITERS = {
    ("news_curate", "load"),
    ("news_maintenance", "feed_health_and_checkpoint"),
    ("news_reclassify", "reclassify"),
    ("news_reextract", "reextract"),
    ("news_recluster", "recluster"),
}


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {
        "news_ingest",
        "news_curate",
        "news_maintenance",
        "news_reclassify",
        "news_reextract",
        "news_recluster",
    }


def test_conventions(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "newsflow" in dag.tags, dag_id
        assert dag.doc_md and "Safe to re-run" in dag.doc_md, dag_id
        assert dag.max_active_runs == 1 and dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.owner == "newsflow", (dag_id, task.task_id)
            assert task.retries >= 2, (dag_id, task.task_id)
            assert task.retry_exponential_backoff, (dag_id, task.task_id)
            assert task.execution_timeout is not None, (dag_id, task.task_id)
    writers = {
        (d.dag_id, t.task_id) for d in dagbag.dags.values() for t in d.tasks if t.pool == "duckdb_writer"
    }
    assert writers == WRITERS  # only these open the DuckDB file for writing
    queued = {
        (d.dag_id, t.task_id) for d in dagbag.dags.values() for t in d.tasks if t.queue == "duckdb_writer"
    }
    assert queued == WRITERS  # and only they go to the writer's worker queue


def test_the_fetch_task_has_the_time_its_budget_is_checked_against(dagbag) -> None:  # type: ignore[no-untyped-def]
    from newsflow.config import FETCH_TASK_LIMIT_S

    fetch = dagbag.dags["news_ingest"].get_task("fetch")
    assert fetch.execution_timeout.total_seconds() == FETCH_TASK_LIMIT_S


def test_schedules_and_assets(dagbag) -> None:  # type: ignore[no-untyped-def]
    ingest, curate = dagbag.dags["news_ingest"], dagbag.dags["news_curate"]
    assert ingest.timetable.expression == "*/15 * * * *"
    assert set(ingest.params.keys()) == {"feeds", "max_items", "force"}
    outlets = [o.name for t in ingest.tasks for o in t.outlets]
    assert outlets == ["newsflow_staged_articles"]
    assert [a.name for a in curate.timetable.asset_condition.objects] == ["newsflow_staged_articles"]
    for manual in ("news_reclassify", "news_reextract", "news_recluster"):
        assert type(dagbag.dags[manual].timetable).__name__ == "NullTimetable"  # manual only
    assert set(dagbag.dags["news_reextract"].params.keys()) == {"since", "feed"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import json, runpy, sys; sys.path.insert(0, sys.argv[1]); runpy.run_path(sys.argv[2]);"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert loaded & HEAVY == set(), f"{path.name} imports {sorted(loaded & HEAVY)} at parse time"
