"""
### news_ingest — poll feeds, fetch and extract new articles, stage them

**Reads** the feeds file (`$NEWSFLOW_FEEDS`, default: the bundled sample feeds) at run time, the feeds' state
and the item ledger from the warehouse's *published snapshot* (never the warehouse file itself), and the
feeds and article pages over HTTP (politely: conditional GET, per-host delays, robots.txt, SSRF guard).

Task instances per run are bounded by settings, not by the number of feeds: `poll` takes groups of feeds (a
host's feeds in one group; about `poll_group_size` feeds, at most `max_poll_groups` groups), `fetch` takes
batches of a host's items (at most `max_fetch_batches`).

**Writes** only run-scoped files under `$NEWSFLOW_HOME/staging/<run>/` (Parquet) and compressed raw HTML
under `$NEWSFLOW_HOME/raw/`. The last task emits the `newsflow_staged_articles` Asset event (counts in its
`extra`), which starts `news_curate`.

**Safe to re-run**: yes. A re-run task rewrites its own staging files; poll ids are derived from the run id
and the feed, so the load counts every poll once.

Params for manual runs: `feeds` (names; empty = all due feeds; named feeds are polled even if not due),
`max_items` (cap on entries taken per feed), `force` (poll every feed now).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from newsflow_common import DEFAULT_ARGS, INGEST_SCHEDULE, STAGED_ARTICLES, START


@dag(
    dag_id="news_ingest",
    schedule=INGEST_SCHEDULE,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=DEFAULT_ARGS,
    tags=["newsflow", "ingest"],
    doc_md=__doc__,
    params={
        "feeds": Param([], type="array", items={"type": "string"}, description="feed names; empty = all due"),
        "max_items": Param(None, type=["null", "integer"], minimum=1, description="cap on entries per feed"),
        "force": Param(
            False, type="boolean", description="poll every selected feed now, ignoring its schedule"
        ),
    },
)
def news_ingest() -> None:
    @task
    def due_feeds() -> list[dict[str, Any]]:
        from newsflow import run
        from newsflow.config import data_home, default_warehouse, feeds_file_from_env, load_feeds_file

        params = get_current_context()["params"]
        config = load_feeds_file(feeds_file_from_env())
        specs = run.plan_polls(
            config,
            default_warehouse(),
            feed_names=params["feeds"] or None,
            force=params["force"],
            home=data_home(),
        )
        return run.poll_groups(config, specs)

    # One task per group of feeds (a host's feeds together), labelled by its hosts; the per-feed results are
    # in the staged file, then in feed_polls (`newsflow feeds`, the Warehouse page). A host's feeds are polled
    # at its pace, so a large group may take minutes.
    @task(map_index_template="{{ group_label }}", execution_timeout=timedelta(minutes=20))
    def poll(group: dict[str, Any]) -> dict[str, Any]:
        from newsflow import run
        from newsflow.config import data_home, feeds_file_from_env, load_feeds_file

        context = get_current_context()
        context["group_label"] = group["label"]  # type: ignore[typeddict-unknown-key]
        return run.poll_group_stage(
            load_feeds_file(feeds_file_from_env()),
            group,
            run_id=context["run_id"],
            home=data_home(),
            max_items=context["params"]["max_items"],
        )

    @task(trigger_rule="none_failed")
    def plan_fetches(polled: list[dict[str, Any]] | None) -> list[str]:
        from newsflow import run
        from newsflow.config import data_home, default_warehouse, feeds_file_from_env, load_feeds_file

        return run.plan_stage(
            load_feeds_file(feeds_file_from_env()),
            run_id=get_current_context()["run_id"],
            home=data_home(),
            warehouse=default_warehouse(),
        )

    @task(map_index_template="{{ batch_name }}")
    def fetch(batch_path: str) -> dict[str, Any]:
        from pathlib import Path

        from newsflow import run
        from newsflow.config import data_home, feeds_file_from_env, load_feeds_file

        get_current_context()["batch_name"] = Path(batch_path).stem  # type: ignore[typeddict-unknown-key]
        return run.fetch_stage(load_feeds_file(feeds_file_from_env()), batch_path, home=data_home())

    @task(trigger_rule="none_failed", outlets=[STAGED_ARTICLES])
    def stage_complete(fetched: list[dict[str, Any]] | None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from newsflow import run
        from newsflow.config import data_home

        context = get_current_context()
        manifest = run.finish_ingest(run_id=context["run_id"], home=data_home())
        if not manifest["feeds_polled"]:
            raise AirflowSkipException("no feed was due: nothing staged")
        context["outlet_events"][STAGED_ARTICLES].extra = manifest
        return manifest

    polled = poll.expand(group=due_feeds())
    batches = plan_fetches(polled)
    stage_complete(fetch.expand(batch_path=batches))


news_ingest()
