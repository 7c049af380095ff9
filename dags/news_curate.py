"""
### news_curate — classify, validate and load the staged articles

**Scheduled on data**, not on a clock: runs when `news_ingest` emits the `newsflow_staged_articles` Asset.

**Reads** every complete, not-yet-loaded staging run under `$NEWSFLOW_HOME/staging/` (so a missed or merged
Asset event loses nothing), the topic taxonomy and the Great Expectations project (set up once by
`newsflow quality-setup`; this DAG only runs it).

**Writes** topic scores and the validated batch (articles that pass; rows that fail, with the expectations
they failed) to each run's staging folder, and GX Data Docs under `$NEWSFLOW_HOME/quality/`. Then `load`, the
only task that opens the DuckDB file for writing (pool `duckdb_writer`, one slot), writes feeds' state, polls,
the item ledger, articles, topics, the quarantine and the validation runs, in one transaction per staged run,
and publishes the feed state planning reads and, when the load changed more than feed status (or the copy is
older than `snapshot_max_age_min`), the analysts' snapshot; it emits the `newsflow_warehouse` Asset.
`quality_gate` then fails loudly if a run's failing share passed `max_quarantine_share` (nothing is lost: the
rows are in `quarantine`).

**Safe to re-run**: yes. Loads are idempotent (keyed by poll, item, article and quarantine ids; unchanged
rows are not rewritten) and a loaded run is marked, so clearing any task or the whole run leaves the
warehouse as one run would.
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
        from newsflow import run
        from newsflow.config import data_home, feeds_file_from_env, load_feeds_file

        return run.classify_pending(load_feeds_file(feeds_file_from_env()), home=data_home())

    @task
    def validate(classified: dict[str, Any]) -> dict[str, Any]:
        from newsflow import run
        from newsflow.config import data_home, feeds_file_from_env, load_feeds_file

        taxonomy = load_feeds_file(feeds_file_from_env()).taxonomy
        return run.validate_runs(classified["runs"], home=data_home(), topic_names=run.topic_names(taxonomy))

    @task(pool=WRITER_POOL, queue=WRITER_QUEUE, outlets=[WAREHOUSE])
    def load(validated: dict[str, Any]) -> dict[str, Any]:
        from newsflow import run
        from newsflow.config import default_warehouse, feeds_file_from_env, load_feeds_file

        settings = load_feeds_file(feeds_file_from_env()).settings
        totals = run.load_runs(
            validated["runs"],
            warehouse=default_warehouse(),
            snapshot_max_age_s=settings.snapshot_max_age_min * 60,
            stories=run.story_params(settings),
        )
        get_current_context()["outlet_events"][WAREHOUSE].extra = totals
        return totals

    @task
    def quality_gate(validated: dict[str, Any], loaded: dict[str, Any]) -> list[dict[str, Any]]:
        from newsflow import run
        from newsflow.config import feeds_file_from_env, load_feeds_file

        max_share = load_feeds_file(feeds_file_from_env()).settings.max_quarantine_share
        return run.enforce_gate(validated["runs"], max_share)

    validated = validate(classify())
    quality_gate(validated, load(validated))


news_curate()
