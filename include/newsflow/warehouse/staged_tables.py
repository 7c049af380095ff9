"""The tables a load stages for its set-based statements, and :func:`staged` to register one: one row per
record, named and typed as the warehouse's columns (JSON as text, cast in SQL), so each table is written by
one statement."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

ARTICLE_COLUMNS = [
    ("article_id", pa.string()),
    ("canonical_url", pa.string()),
    ("url", pa.string()),
    ("feed", pa.string()),
    ("item_id", pa.string()),
    ("title", pa.string()),
    ("author", pa.string()),
    ("site_name", pa.string()),
    ("published_at", TS),
    ("language", pa.string()),
    ("language_source", pa.string()),
    ("body", pa.string()),
    ("body_source", pa.string()),
    ("word_count", pa.int32()),
    ("body_hash", pa.string()),
    ("raw_path", pa.string()),
    ("http_status", pa.int32()),
    ("extractor", pa.string()),
    ("fetched_at", TS),
    ("extraction_path", pa.string()),
    ("date_source", pa.string()),
]

ITEM_COLUMNS = [
    ("item_id", pa.string()),
    ("feed", pa.string()),
    ("guid", pa.string()),
    ("link", pa.string()),
    ("canonical_url", pa.string()),
    ("title", pa.string()),
    ("published_at", TS),
    ("entry_hash", pa.string()),
    ("first_poll_id", pa.string()),
    ("first_seen_at", TS),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("article_id", pa.string()),
    ("attempts", pa.int32()),
    ("retryable", pa.bool_()),
    ("status_at", TS),
]
TOPIC_COLUMNS = [
    ("article_id", pa.string()),
    ("topic", pa.string()),
    ("classifier_version", pa.string()),
    ("score", pa.float64()),
    ("assigned", pa.bool_()),
    ("evidence", pa.string()),
    ("classified_at", TS),
]
POLL_COLUMNS = [  # one row per poll: the feed_polls row, and what the feeds upsert needs
    ("poll_id", pa.string()),
    ("feed", pa.string()),
    ("url", pa.string()),
    ("started_at", TS),
    ("duration_s", pa.float64()),
    ("status", pa.string()),
    ("http_status", pa.int32()),
    ("bytes", pa.int64()),
    ("items_seen", pa.int32()),
    ("items_new", pa.int32()),
    ("error", pa.string()),
    ("parse_warning", pa.string()),
    ("title", pa.string()),
    ("format", pa.string()),
    ("etag", pa.string()),
    ("last_modified", pa.string()),
    ("body_hash", pa.string()),
    ("failed", pa.bool_()),
    ("poll_interval_min", pa.float64()),
    ("next_poll_at", TS),
    ("round", pa.int32()),  # the n-th poll of its feed in this batch: the upsert takes one round at a time
]
QUARANTINE_COLUMNS = [
    ("quarantine_id", pa.string()),
    ("item_id", pa.string()),
    ("article_id", pa.string()),
    ("run_id", pa.string()),
    ("reasons", pa.list_(pa.string())),
    ("record", pa.string()),
    ("quarantined_at", TS),
]
VALIDATION_COLUMNS = [
    ("run_id", pa.string()),
    ("suite", pa.string()),
    ("validated_at", TS),
    ("rows_evaluated", pa.int32()),
    ("rows_passed", pa.int32()),
    ("rows_failed", pa.int32()),
    ("per_expectation", pa.string()),
    ("success", pa.bool_()),
    ("data_docs_path", pa.string()),
]
RETRY_COLUMNS = [
    ("item_id", pa.string()),
    ("summary", pa.string()),
    ("content", pa.string()),
    ("author", pa.string()),
    ("language", pa.string()),
    ("entry", pa.string()),
]
PAUSE_COLUMNS = [("host", pa.string()), ("until", TS), ("reason", pa.string()), ("recorded_at", TS)]

STORY_COLUMNS = [
    ("article_id", pa.string()),
    ("story_id", pa.string()),
    ("body_hash", pa.string()),
    ("shingles", pa.int32()),
    ("signature", pa.binary()),
    ("lead_signature", pa.binary()),
    ("matched_article_id", pa.string()),
    ("containment", pa.float64()),
    ("jaccard", pa.float64()),
    ("lead_jaccard", pa.float64()),
    ("seen_at", TS),
    ("assigned_at", TS),
]
INDEX_COLUMNS = [  # story_index rows
    ("key", pa.int64()),
    ("article_id", pa.string()),
    ("seen_at", TS),
]


def changed(*columns: str) -> str:
    """SQL that is true when the staged row ``s`` differs from the stored row ``t`` in any of ``columns``."""
    return " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in columns)


@contextlib.contextmanager
def staged_arrow(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """An Arrow table as a view ``name`` for set-based statements (columns built as arrays, not rows)."""
    con.register(name, table)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


@contextlib.contextmanager
def staged(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Sequence[tuple[str, pa.DataType]],
    rows: Iterable[dict[str, Any]],
) -> Iterator[None]:
    """``rows`` as a view ``name`` for set-based statements (one statement per table per batch)."""
    with staged_arrow(con, name, pa.Table.from_pylist(list(rows), schema=pa.schema(columns))):
        yield
