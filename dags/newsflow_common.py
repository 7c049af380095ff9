"""What the newsflow DAGs share: default task arguments, the data Assets and the writer pool.

Kept free of heavy imports: DAG files are parsed often. Not a DAG itself.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset

OWNER = "newsflow"
WRITER_POOL = "duckdb_writer"  # one slot: only the load task ever opens the DuckDB file for writing
# With CeleryExecutor (docker-compose) writer tasks go to a dedicated worker that has the DuckDB volume;
# LocalExecutor ignores queues.
WRITER_QUEUE = os.environ.get("NEWSFLOW_WRITER_QUEUE", "duckdb_writer")
START = datetime(2026, 1, 1, tzinfo=UTC)

# `NEWSFLOW_INGEST_SCHEDULE`: a cron expression or preset; "none" for ingest runs triggered from outside only.
_INGEST_SCHEDULE = os.environ.get("NEWSFLOW_INGEST_SCHEDULE", "*/15 * * * *").strip()
INGEST_SCHEDULE = None if _INGEST_SCHEDULE.lower() in ("", "none") else _INGEST_SCHEDULE

STAGED_ARTICLES = Asset(name="newsflow_staged_articles", uri="x-newsflow://staging/articles")
WAREHOUSE = Asset(name="newsflow_warehouse", uri="x-newsflow://warehouse/articles")

# Tests shorten the retry delay (dag.test() really sleeps through it); deployments keep the default.
_RETRY_DELAY = timedelta(seconds=float(os.environ.get("NEWSFLOW_RETRY_DELAY_S", "30")))

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": _RETRY_DELAY,
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=20),
}
