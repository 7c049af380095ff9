"""
### news_maintenance — retention, checkpoint and a daily feed-health summary

**Reads** the staging folders, the raw HTML store and the warehouse.

**Writes**: deletes loaded staging runs and raw HTML past their retention (`staging_retention_days`,
`raw_html_retention_days`; unloaded runs are never deleted) and GX results and Data Docs beyond the newest
`data_docs_keep` per suite; in the writer pool, records one `feed_health`
row per feed for the run's data day and checkpoints the DuckDB file, then republishes the analysts' snapshot.

**Safe to re-run**: yes. Deletion is by age, the summary is an upsert keyed by day and feed.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from newsflow_common import DEFAULT_ARGS, START, WRITER_POOL, WRITER_QUEUE


@dag(
    dag_id="news_maintenance",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["newsflow", "maintenance"],
    doc_md=__doc__,
    params={"staging_retention_days": Param(7, type="number", minimum=0)},
)
def news_maintenance() -> None:
    @task
    def prune_files() -> dict[str, int]:
        from newsflow import run
        from newsflow.config import data_home, feeds_file_from_env, load_feeds_file

        settings = load_feeds_file(feeds_file_from_env()).settings
        days = get_current_context()["params"]["staging_retention_days"]
        return run.prune_files(data_home(), settings, days)

    @task(pool=WRITER_POOL, queue=WRITER_QUEUE)
    def feed_health_and_checkpoint(pruned: dict[str, int]) -> dict[str, Any]:
        from newsflow import run
        from newsflow.config import default_warehouse

        context = get_current_context()
        interval_start = context.get("data_interval_start") or context["logical_date"]
        if interval_start is None:
            raise ValueError("no data interval: run this DAG on its schedule or with a logical date")
        day = interval_start.date()
        feeds = run.record_feed_health(default_warehouse(), day)
        return {
            **pruned,
            "feed_health_rows": feeds,
            "day": day.isoformat(),
            "snapshot": run.checkpoint(default_warehouse()),
        }

    feed_health_and_checkpoint(prune_files())


news_maintenance()
