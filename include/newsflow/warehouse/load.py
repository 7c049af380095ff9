"""The one write path: a batch (polls, feed state, the item ledger, articles, topics, quality rows and host
pauses) in one transaction, set-based, idempotent: loading it twice changes nothing, a failed load leaves
nothing, a corrected article updates its row (``version`` + 1)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from newsflow.models import ARTICLE_CHANGE_FIELDS, Batch, HostPause, ItemOutcome, PollResult, TopicRow
from newsflow.stories import StoryParams
from newsflow.warehouse.db import count, transaction
from newsflow.warehouse.ledger import keep_retry_entries, resolve_duplicates, upsert_items
from newsflow.warehouse.staged_tables import (
    ARTICLE_COLUMNS,
    PAUSE_COLUMNS,
    POLL_COLUMNS,
    QUARANTINE_COLUMNS,
    TOPIC_COLUMNS,
    VALIDATION_COLUMNS,
    changed,
    staged,
)
from newsflow.warehouse.stories import assign_stories

_CHANGED_ARTICLE = changed(*ARTICLE_CHANGE_FIELDS)


@dataclass
class LoadStats:
    """What a load wrote (rows per table) and its outcomes per status."""

    polls: int = 0
    items_new: int = 0
    items_updated: int = 0
    articles_inserted: int = 0
    articles_updated: int = 0
    topic_rows_written: int = 0
    topic_rows_removed: int = 0
    loaded: int = 0
    duplicate: int = 0
    failed: int = 0
    quarantined: int = 0
    other_rows: int = 0
    """Quarantine and validation rows written, retry entries changed."""
    stories_assigned: int = 0
    """Articles given their story (new ones, and those whose body changed)."""

    @property
    def changed_content(self) -> bool:
        """Whether the load changed anything beyond feed status (polls, feed state, host pauses)."""
        return any(
            (
                self.items_new,
                self.items_updated,
                self.articles_inserted,
                self.articles_updated,
                self.topic_rows_written,
                self.topic_rows_removed,
                self.other_rows,
            )
        )


def load_batch(
    con: duckdb.DuckDBPyConnection, batch: Batch, now: datetime, stories: StoryParams | None = None
) -> LoadStats:
    """Write polls, feed state, the item ledger, articles and their stories in one transaction
    (idempotent)."""
    stats = LoadStats()
    with transaction(con):
        polls = _new_polls(con, batch.polls)
        outcomes = resolve_duplicates(con, batch.outcomes)
        statuses = Counter(o.status for o in outcomes)
        stats.loaded, stats.duplicate = statuses["loaded"], statuses["duplicate"]
        stats.failed, stats.quarantined = statuses["failed"], statuses["quarantined"]
        items = upsert_items(con, outcomes, polls, now)
        stats.items_new, stats.items_updated = items.inserted, items.updated
        stats.other_rows += keep_retry_entries(con, outcomes, polls)
        _upsert_articles(con, [o for o in outcomes if o.status == "loaded"], now, stats)
        loaded_outcomes = [o for o in outcomes if o.status == "loaded" and o.article is not None]
        stats.stories_assigned = assign_stories(con, loaded_outcomes, now, stories or StoryParams())
        loaded = {o.article_id for o in outcomes if o.status == "loaded"}
        _write_topics(con, [t for t in batch.topics if t.article_id in loaded], now, stats)
        stats.other_rows += _write_quality(con, batch)
        _record_polls(con, polls, items.new_ids, stats)
        _record_pauses(con, batch.host_pauses, now)
    return stats


def store_topics(con: duckdb.DuckDBPyConnection, rows: Sequence[TopicRow], now: datetime) -> LoadStats:
    """Write topic rows in their own transaction (re-classification); idempotent."""
    stats = LoadStats()
    with transaction(con):
        _write_topics(con, rows, now, stats)
    return stats


def _new_polls(con: duckdb.DuckDBPyConnection, polls: Sequence[PollResult]) -> list[PollResult]:
    """The polls not loaded before (a batch loaded again brings only known ones)."""
    if not polls:
        return []
    seen = {
        r[0]
        for r in con.execute(
            "SELECT poll_id FROM feed_polls WHERE poll_id IN (SELECT unnest(?::VARCHAR[]))",
            [[p.poll_id for p in polls]],
        ).fetchall()
    }
    return [p for p in polls if p.poll_id not in seen]


def _upsert_articles(
    con: duckdb.DuckDBPyConnection, outcomes: Sequence[ItemOutcome], now: datetime, stats: LoadStats
) -> None:
    """Insert new articles; update a stored one whose content or provenance changed (a correction, or a
    re-extraction: ``version`` + 1)."""
    articles = [o.article for o in outcomes if o.article is not None]
    if not articles:
        return
    rows = ({k: getattr(a, k) for k, _ in ARTICLE_COLUMNS} for a in articles)
    with staged(con, "staged_articles", ARTICLE_COLUMNS, rows):
        updated = count(
            con,
            f"""
            UPDATE articles t SET
                canonical_url = s.canonical_url, url = s.url, title = s.title, author = s.author,
                site_name = s.site_name, published_at = s.published_at, language = s.language,
                language_source = s.language_source, body = s.body, body_source = s.body_source,
                word_count = s.word_count, body_hash = s.body_hash, raw_path = s.raw_path,
                http_status = s.http_status, extractor = s.extractor, fetched_at = s.fetched_at,
                extraction_path = s.extraction_path, date_source = s.date_source,
                updated_at = ?, version = t.version + 1
            FROM staged_articles s WHERE t.article_id = s.article_id AND ({_CHANGED_ARTICLE})
            """,
            [now],
        )
        inserted = count(
            con,
            "INSERT INTO articles BY NAME SELECT s.*, ?::TIMESTAMPTZ AS first_loaded_at, "
            "?::TIMESTAMPTZ AS updated_at, 1 AS version "
            "FROM staged_articles s ANTI JOIN articles t USING (article_id)",
            [now, now],
        )
    stats.articles_inserted += inserted
    stats.articles_updated += updated


def _write_quality(con: duckdb.DuckDBPyConnection, batch: Batch) -> int:
    """Quarantined rows (kept whole, with reasons) and the validation runs' verdicts; idempotent (a row
    already stored, or repeated in the batch, is kept as first written). Set-based: one statement each."""
    quarantine = {
        q.quarantine_id: {
            "quarantine_id": q.quarantine_id,
            "item_id": q.item_id,
            "article_id": q.article_id,
            "run_id": q.run_id,
            "reasons": list(q.reasons),
            "record": json.dumps(q.record, sort_keys=True, default=str),
            "quarantined_at": q.quarantined_at,
        }
        for q in reversed(batch.quarantine)  # the first of repeated ids wins
    }
    written = 0
    if quarantine:
        with staged(con, "staged_quarantine", QUARANTINE_COLUMNS, quarantine.values()):
            written += count(
                con,
                "INSERT INTO quarantine BY NAME SELECT s.* REPLACE (s.record::JSON AS record) "
                "FROM staged_quarantine s ANTI JOIN quarantine t USING (quarantine_id)",
            )
    validations = {
        (v.run_id, v.suite): {
            "run_id": v.run_id,
            "suite": v.suite,
            "validated_at": v.validated_at,
            "rows_evaluated": v.rows_evaluated,
            "rows_passed": v.rows_passed,
            "rows_failed": v.rows_failed,
            "per_expectation": json.dumps(v.per_expectation, sort_keys=True),
            "success": v.success,
            "data_docs_path": v.data_docs_path,
        }
        for v in reversed(batch.validations)
    }
    if validations:
        with staged(con, "staged_validations", VALIDATION_COLUMNS, validations.values()):
            written += count(
                con,
                "INSERT INTO validation_runs BY NAME "
                "SELECT s.* REPLACE (s.per_expectation::JSON AS per_expectation) "
                "FROM staged_validations s ANTI JOIN validation_runs t USING (run_id, suite)",
            )
    return written


def _write_topics(
    con: duckdb.DuckDBPyConnection, rows: Sequence[TopicRow], now: datetime, stats: LoadStats
) -> None:
    """Upsert rows; drop other classifier versions' rows of the same articles (one version each)."""
    if not rows:
        return
    unique = {(r.article_id, r.topic, r.classifier_version): r for r in reversed(rows)}  # first wins
    staged_rows = (
        {
            **{k: getattr(r, k) for k, _ in TOPIC_COLUMNS[:5]},
            "evidence": json.dumps(r.evidence, sort_keys=True, ensure_ascii=False),
            "classified_at": now,
        }
        for r in unique.values()
    )
    with staged(con, "staged_topics", TOPIC_COLUMNS, staged_rows):
        removed = count(
            con,
            "DELETE FROM article_topics t USING (SELECT DISTINCT article_id, classifier_version "
            "FROM staged_topics) s WHERE t.article_id = s.article_id "
            "AND t.classifier_version <> s.classifier_version",
        )
        updated = count(
            con,
            """
            UPDATE article_topics t SET score = s.score, assigned = s.assigned,
                evidence = s.evidence::JSON, classified_at = s.classified_at
            FROM staged_topics s
            WHERE t.article_id = s.article_id AND t.topic = s.topic
                AND t.classifier_version = s.classifier_version
                AND (t.score IS DISTINCT FROM s.score OR t.assigned IS DISTINCT FROM s.assigned
                     OR t.evidence::VARCHAR IS DISTINCT FROM s.evidence::JSON::VARCHAR)
            """,
        )
        inserted = count(
            con,
            "INSERT INTO article_topics BY NAME SELECT * REPLACE (s.evidence::JSON AS evidence) "
            "FROM staged_topics s "
            "ANTI JOIN article_topics t USING (article_id, topic, classifier_version)",
        )
    stats.topic_rows_removed += removed
    stats.topic_rows_written += updated + inserted


def _record_polls(
    con: duckdb.DuckDBPyConnection, polls: Sequence[PollResult], new_ids: set[str], stats: LoadStats
) -> None:
    """The batch's polls into ``feed_polls`` and each feed's state into ``feeds``: set-based, a statement
    per table (and per round: a feed polled twice in one batch is upserted in poll order).

    ``feeds`` keeps the feed's title and format when a poll has none, its last success and last new item
    when this poll had none, and counts consecutive failures (a success resets the count)."""
    if not polls:
        return
    rounds: dict[str, int] = {}
    rows = []
    for p in polls:
        rows.append(
            {
                "poll_id": p.poll_id,
                "feed": p.feed,
                "url": p.url,
                "started_at": p.started_at,
                "duration_s": p.duration_s,
                "status": p.status,
                "http_status": p.http_status,
                "bytes": p.bytes,
                "items_seen": len(p.items),
                "items_new": sum(1 for i in p.items if i.item_id in new_ids),
                "error": p.error,
                "parse_warning": p.parse_warning,
                "title": p.feed_title,
                "format": p.feed_format,
                "etag": p.etag,
                "last_modified": p.last_modified,
                "body_hash": p.body_hash,
                "failed": p.failed,
                "poll_interval_min": p.poll_interval_min,
                "next_poll_at": p.next_poll_at,
                "round": rounds.setdefault(p.feed, 0),
            }
        )
        rounds[p.feed] += 1
    with staged(con, "staged_polls", POLL_COLUMNS, rows):
        con.execute(
            "INSERT INTO feed_polls BY NAME SELECT poll_id, feed, url, started_at, duration_s, status, "
            "http_status, bytes, items_seen, items_new, error, parse_warning FROM staged_polls"
        )
        for n in range(max(rounds.values())):
            con.execute(
                """
                UPDATE feeds t SET
                    url = s.url, title = COALESCE(s.title, t.title),
                    format = COALESCE(s.format, t.format), etag = s.etag,
                    last_modified = s.last_modified, body_hash = s.body_hash,
                    last_polled_at = s.started_at, last_status = s.status,
                    last_http_status = s.http_status, last_error = s.error,
                    last_success_at = CASE WHEN s.failed THEN t.last_success_at ELSE s.started_at END,
                    last_new_item_at = CASE WHEN s.items_new > 0 THEN s.started_at
                                            ELSE t.last_new_item_at END,
                    consecutive_failures = CASE WHEN s.failed THEN t.consecutive_failures + 1 ELSE 0 END,
                    poll_interval_min = s.poll_interval_min, next_poll_at = s.next_poll_at
                FROM staged_polls s WHERE t.name = s.feed AND s.round = ?
                """,
                [n],
            )
            con.execute(
                """
                INSERT INTO feeds BY NAME
                SELECT s.feed AS name, s.url, s.title, s.format, s.etag, s.last_modified, s.body_hash,
                    s.started_at AS last_polled_at, s.status AS last_status,
                    s.http_status AS last_http_status, s.error AS last_error,
                    CASE WHEN s.failed THEN NULL ELSE s.started_at END AS last_success_at,
                    CASE WHEN s.items_new > 0 THEN s.started_at END AS last_new_item_at,
                    CASE WHEN s.failed THEN 1 ELSE 0 END AS consecutive_failures,
                    s.poll_interval_min, s.next_poll_at
                FROM staged_polls s ANTI JOIN feeds t ON t.name = s.feed
                WHERE s.round = ?
                """,
                [n],
            )
    stats.polls += len(polls)


def _record_pauses(con: duckdb.DuckDBPyConnection, pauses: Sequence[HostPause], now: datetime) -> None:
    """Keep each host's latest pause end; drop the pauses that have ended."""
    latest: dict[str, HostPause] = {}
    for p in pauses:  # a host that asked twice: the later end
        if p.host not in latest or p.until > latest[p.host].until:
            latest[p.host] = p
    if latest:
        rows = (
            {"host": p.host, "until": p.until, "reason": p.reason, "recorded_at": now}
            for p in latest.values()
        )
        with staged(con, "staged_pauses", PAUSE_COLUMNS, rows):
            con.execute(
                "UPDATE host_pauses t SET until = s.until, reason = s.reason, "
                "recorded_at = s.recorded_at FROM staged_pauses s "
                "WHERE t.host = s.host AND s.until > t.until"
            )
            con.execute(
                "INSERT INTO host_pauses BY NAME SELECT s.* FROM staged_pauses s "
                "ANTI JOIN host_pauses t USING (host)"
            )
    con.execute("DELETE FROM host_pauses WHERE until <= ?", [now])
