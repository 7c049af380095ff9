"""Feed health: one ``feed_health`` row per configured feed and day, kept for the Warehouse page's trend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb

from newsflow.warehouse.db import transaction


def record_feed_health(con: duckdb.DuckDBPyConnection, day: date) -> int:
    """One ``feed_health`` row per configured feed for ``day`` (UTC): polls, failures, new items."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with transaction(con):
        rows = con.execute(
            """
            MERGE INTO feed_health t
            USING (
                SELECT ?::DATE AS day, f.name AS feed,
                       count(p.poll_id) AS polls,
                       count(p.poll_id) FILTER (WHERE p.status IN ('error', 'deferred')) AS failures,
                       COALESCE(sum(p.items_new), 0) AS items_new,
                       COALESCE(sum(p.bytes), 0) AS bytes,
                       f.last_status, f.consecutive_failures, f.last_success_at, f.last_error
                FROM feeds f
                LEFT JOIN feed_polls p ON p.feed = f.name AND p.started_at >= ? AND p.started_at < ?
                GROUP BY ALL
            ) s ON t.day = s.day AND t.feed = s.feed
            WHEN MATCHED THEN UPDATE SET polls = s.polls, failures = s.failures, items_new = s.items_new,
                bytes = s.bytes, last_status = s.last_status,
                consecutive_failures = s.consecutive_failures,
                last_success_at = s.last_success_at, last_error = s.last_error
            WHEN NOT MATCHED THEN INSERT BY NAME
            RETURNING 1
            """,
            [day, start, start + timedelta(days=1)],
        ).fetchall()
    return len(rows)
