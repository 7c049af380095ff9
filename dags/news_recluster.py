"""
### news_recluster — rebuild the stories after a change of the story thresholds

Manual only (no schedule). **Reads** every article's stored signature (made from its body when it has none,
for articles loaded before stories existed) and the story settings of the feeds file (`story_min_containment`,
`story_min_jaccard`, `story_min_lead_jaccard`, `story_window_days`). **Writes** `articles.story_id`,
`article_stories` and the LSH index `story_index`, in one transaction (writer pool), then republishes the
snapshot. No article is refetched or re-extracted.

**Safe to re-run**: yes. With unchanged thresholds the stories come out the same.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from airflow.sdk import dag, task
from newsflow_common import DEFAULT_ARGS, START, WRITER_POOL, WRITER_QUEUE


@dag(
    dag_id="news_recluster",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["newsflow", "stories"],
    doc_md=__doc__,
)
def news_recluster() -> None:
    @task(pool=WRITER_POOL, queue=WRITER_QUEUE)
    def recluster() -> dict[str, Any]:
        from newsflow import run
        from newsflow.config import default_warehouse, feeds_file_from_env, load_feeds_file

        settings = load_feeds_file(feeds_file_from_env()).settings
        return asdict(run.recluster(default_warehouse(), settings))

    recluster()


news_recluster()
