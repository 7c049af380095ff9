"""
### news_reextract — re-extract stored articles from their kept raw HTML after an extractor upgrade

Manual only (no schedule). Params: `since` (ISO date; only articles fetched at or after it, empty = all) and
`feed` (only the articles that feed first brought, empty = any). **Reads** each article's raw HTML (kept for
`raw_html_retention_days`) and re-extracts it with the current extractor, no refetch. **Writes**, in
batches, the articles whose text or provenance changes, through the normal classification, quality gate
(quarantine) and load, one transaction per batch (writer pool), then republishes the snapshot. Articles whose
raw HTML has passed retention are counted and listed in the task's result, not re-extracted.

**Safe to re-run**: yes. A second run with the same extractor writes nothing; an interrupted run resumes.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from newsflow_common import DEFAULT_ARGS, START, WRITER_POOL, WRITER_QUEUE


@dag(
    dag_id="news_reextract",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["newsflow", "extraction"],
    doc_md=__doc__,
    params={
        "since": Param(None, type=["null", "string"], description="ISO date: only articles fetched since"),
        "feed": Param(None, type=["null", "string"], description="only the articles this feed first brought"),
    },
)
def news_reextract() -> None:
    # It holds the writer slot throughout (no load may change an article between its re-extraction and its
    # update): a large warehouse needs more than the default 20 minutes.
    @task(pool=WRITER_POOL, queue=WRITER_QUEUE, execution_timeout=timedelta(hours=6))
    def reextract() -> dict[str, Any]:
        from datetime import UTC, datetime

        from newsflow import run
        from newsflow.config import default_warehouse, feeds_file_from_env, load_feeds_file

        params = get_current_context()["params"]
        since = datetime.fromisoformat(params["since"]) if params.get("since") else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        summary = run.reextract_articles(
            load_feeds_file(feeds_file_from_env()), default_warehouse(), since=since, feed=params.get("feed")
        )
        return asdict(summary)

    reextract()


news_reextract()
