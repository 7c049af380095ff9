"""
### news_curate — classify the staged articles and load them into the warehouse

**Scheduled on data**, not on a clock: runs when `news_ingest` emits the `newsflow_staged_articles` Asset.

**Reads** every complete, not-yet-loaded staging run under `$NEWSFLOW_HOME/staging/` (so a missed or merged
Asset event loses nothing) and the topic taxonomy.

**Writes** each run's topic scores to its staging folder, then — in the `load` task, the only task that
opens the DuckDB file for writing (pool `duckdb_writer`, one slot) — feeds' state, polls, the item ledger,
articles and topics in one transaction per staged run, and finally republishes the read-only snapshot
analysts query. Emits the `newsflow_warehouse` Asset with the load's counts.

**Safe to re-run**: yes. Loads are idempotent (keyed by poll, item and article ids; unchanged rows are not
rewritten) and a loaded run is marked, so clearing any task or the whole run leaves the warehouse as one
run would.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task
from newsflow_common import DEFAULT_ARGS, STAGED_ARTICLES, START, WAREHOUSE, WRITER_POOL, WRITER_QUEUE


@dag(
    dag_id="news_curate",
    schedule=[STAGED_ARTICLES],
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["newsflow", "curate"],
    doc_md=__doc__,
)
def news_curate() -> None:
    @task
    def classify() -> dict[str, Any]:
        from newsflow import stages
        from newsflow.config import data_home, feeds_file_from_env, load_feeds_file

        return stages.classify_pending(load_feeds_file(feeds_file_from_env()), home=data_home())

    @task(pool=WRITER_POOL, queue=WRITER_QUEUE, outlets=[WAREHOUSE])
    def load(classified: dict[str, Any]) -> dict[str, Any]:
        from newsflow import stages
        from newsflow.config import default_warehouse

        totals = stages.load_runs(classified["runs"], warehouse=default_warehouse())
        get_current_context()["outlet_events"][WAREHOUSE].extra = totals
        return totals

    load(classify())


news_curate()
