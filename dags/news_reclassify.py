"""
### news_reclassify — re-score stored articles after a taxonomy change

Manual only (no schedule). **Reads** every article's title and body from the warehouse and the taxonomy
(the feeds file's `taxonomy:`, or the packaged default). **Writes** `article_topics` rows of the new
classifier version, replacing the old version's rows, in batches (writer pool), then republishes the snapshot.
No article is refetched.

**Safe to re-run**: yes. With an unchanged taxonomy a second run writes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from airflow.sdk import dag, task
from newsflow_common import DEFAULT_ARGS, START, WRITER_POOL, WRITER_QUEUE


@dag(
    dag_id="news_reclassify",
    schedule=None,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["newsflow", "topics"],
    doc_md=__doc__,
)
def news_reclassify() -> None:
    @task(pool=WRITER_POOL, queue=WRITER_QUEUE)
    def reclassify() -> dict[str, Any]:
        from newsflow import run
        from newsflow.config import default_warehouse, feeds_file_from_env, load_feeds_file

        return asdict(run.reclassify(default_warehouse(), load_feeds_file(feeds_file_from_env()).taxonomy))

    reclassify()


news_reclassify()
