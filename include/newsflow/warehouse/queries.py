"""Named read queries for the UI pages and the CLI: each runs one statement on a read-only warehouse and
returns records built by column name, so the schema's SQL stays in ``warehouse/``.

Timestamps of the UI's records are UTC; the CLI's records (:class:`FeedStatus`, :class:`FeedCounts`,
:class:`ArticleCounts`, :class:`ArticleLine`) keep DuckDB's values as they are, since the CLI prints them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from newsflow.models import QuarantineRecord, ValidationRun
from newsflow.warehouse.db import records
from newsflow.warehouse.store import Warehouse

T = TypeVar("T")

# -- records ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityTotals:
    """Counts over the whole validation history and the quarantine."""

    runs: int
    failed_runs: int
    rows_evaluated: int
    quarantined: int


@dataclass(frozen=True)
class ReasonCount:
    """One quarantine reason: how many rows carry it, and when the newest of them was quarantined."""

    reason: str
    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class DayTopicCount:
    """Articles published on one UTC day with one topic."""

    day: date
    topic: str
    count: int


@dataclass(frozen=True)
class Ranked:
    """A feed or domain with its article count and newest publication time."""

    name: str
    count: int
    last: datetime | None = None


@dataclass(frozen=True)
class FeedHealth:
    """A feed's stored state with its last seven days of ``feed_health`` and its article count."""

    name: str
    url: str
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    polls_7d: int | None
    failures_7d: int | None
    articles: int

    @property
    def failing(self) -> bool:
        """Whether its last poll failed or it has failed since its last success."""
        return self.consecutive_failures > 0 or self.last_status in ("error", "deferred")


@dataclass(frozen=True)
class FeedStatus:
    """A row of ``newsflow feeds``: the fields are its columns, in order."""

    name: str
    last_status: str | None
    http: int | None
    last_success_at: datetime | None
    failures: int
    next_poll_at: datetime | None
    interval_min: float | None
    last_error: str | None


@dataclass(frozen=True)
class FeedCounts:
    """How many feeds are known and failing, and when one was last polled."""

    known: int
    failing: int
    last_poll: datetime | None


@dataclass(frozen=True)
class ArticleCounts:
    """How many articles there are, how many kept the feed's text, and when one last changed."""

    articles: int
    from_feed_text: int
    last_change: datetime | None


@dataclass(frozen=True)
class StoryLine:
    """A story of the Warehouse page: its first article's title and URL, its copies and outlets."""

    story_id: str
    title: str | None
    first_url: str
    articles: int
    outlets: int
    first_seen_at: datetime | None


@dataclass(frozen=True)
class ArticleLine:
    """A row of the demo's article listing: the fields are its columns, in order."""

    feed: str
    title: str | None
    language: str | None
    words: int
    topics: list[str]


# -- mapping rows ----------------------------------------------------------------------------------------


def _utc(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _in_utc(make: Callable[..., T]) -> Callable[..., T]:
    """``make`` with every timestamp of the row turned to UTC first."""

    def build(**row: Any) -> T:
        return make(**{k: _utc(v) for k, v in row.items()})

    return build


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _validation_run(*, per_expectation: Any, **columns: Any) -> ValidationRun:
    counts = _json(per_expectation) or {}
    return ValidationRun(per_expectation={str(k): int(v) for k, v in counts.items()}, **columns)


def _quarantine_record(*, reasons: Sequence[str], record: Any, **columns: Any) -> QuarantineRecord:
    loaded = _json(record)
    return QuarantineRecord(
        reasons=tuple(str(r) for r in reasons), record=loaded if isinstance(loaded, dict) else {}, **columns
    )


def _fetch(wh: Warehouse, make: Callable[..., T], sql: str, params: Sequence[Any] = ()) -> list[T]:
    return records(wh.con.execute(sql, list(params)), make)


# -- validation history and quarantine ---------------------------------------------------------------------


def has_validation_history(wh: Warehouse) -> bool:
    """Whether the file has ``validation_runs`` (a snapshot published before that migration has not)."""
    return wh.has("quality")


_RUNS = (
    "SELECT run_id, suite, validated_at, rows_evaluated, rows_passed, rows_failed, per_expectation, success, "
    "data_docs_path FROM validation_runs"
)
_QUARANTINE = (
    "SELECT quarantine_id, item_id, article_id, run_id, reasons, record, quarantined_at FROM quarantine"
)


def recent_validation_runs(wh: Warehouse, limit: int) -> list[ValidationRun]:
    """The ``limit`` most recent validation runs (one per suite and batch), newest first."""
    return _fetch(wh, _in_utc(_validation_run), f"{_RUNS} ORDER BY validated_at DESC, suite LIMIT ?", [limit])


def latest_validation_runs(wh: Warehouse, batches: int) -> list[ValidationRun]:
    """Every suite's run of the ``batches`` most recently validated batches, oldest first."""
    return _fetch(
        wh,
        _in_utc(_validation_run),
        f"""{_RUNS} WHERE run_id IN (SELECT run_id FROM validation_runs GROUP BY run_id
                                    ORDER BY max(validated_at) DESC LIMIT ?)
            ORDER BY validated_at, suite""",
        [batches],
    )


def validation_runs_of(wh: Warehouse, run_ids: Sequence[str]) -> list[ValidationRun]:
    """The validation runs of the batches ``run_ids``, oldest first."""
    return _fetch(
        wh,
        _in_utc(_validation_run),
        f"{_RUNS} WHERE list_contains(?, run_id) ORDER BY validated_at, suite",
        [list(run_ids)],
    )


def quality_totals(wh: Warehouse) -> QualityTotals:
    """Runs, runs with failing rows and rows evaluated over the whole history; rows in quarantine."""
    (totals,) = _fetch(
        wh,
        QualityTotals,
        """SELECT count(*) AS runs, count(*) FILTER (WHERE NOT success) AS failed_runs,
                  COALESCE(sum(rows_evaluated), 0) AS rows_evaluated,
                  (SELECT count(*) FROM quarantine) AS quarantined
           FROM validation_runs""",
    )
    return totals


def top_quarantine_reasons(wh: Warehouse, limit: int) -> list[ReasonCount]:
    """The ``limit`` reasons most quarantined rows carry, most first."""
    return _fetch(
        wh,
        _in_utc(ReasonCount),
        """SELECT reason, count(*) AS count, max(quarantined_at) AS last_seen
           FROM (SELECT unnest(reasons) AS reason, quarantined_at FROM quarantine)
           GROUP BY reason ORDER BY count DESC, reason LIMIT ?""",
        [limit],
    )


def quarantined_with_reason(wh: Warehouse, reason: str, limit: int) -> list[QuarantineRecord]:
    """The ``limit`` newest quarantined rows that carry ``reason``."""
    return _fetch(
        wh,
        _in_utc(_quarantine_record),
        f"{_QUARANTINE} WHERE list_contains(reasons, ?) ORDER BY quarantined_at DESC, quarantine_id LIMIT ?",
        [reason, limit],
    )


def quarantined_in_runs(wh: Warehouse, run_ids: Sequence[str], limit: int) -> list[QuarantineRecord]:
    """The first ``limit`` rows the batches ``run_ids`` sent to quarantine, oldest first."""
    return _fetch(
        wh,
        _in_utc(_quarantine_record),
        f"{_QUARANTINE} WHERE list_contains(?, run_id) ORDER BY quarantined_at, quarantine_id LIMIT ?",
        [list(run_ids), limit],
    )


# -- articles and items --------------------------------------------------------------------------------------


def article_counts(wh: Warehouse) -> ArticleCounts:
    """How many articles there are, how many kept the feed's text, and when one last changed."""
    (counts,) = _fetch(
        wh,
        ArticleCounts,
        """SELECT count(*) AS articles, count(*) FILTER (WHERE body_source <> 'extracted') AS from_feed_text,
                  max(updated_at) AS last_change
           FROM articles""",
    )
    return counts


def has_stories(wh: Warehouse) -> bool:
    """Whether the file has stories (a snapshot published before that migration has not)."""
    return wh.has("stories")


def story_count(wh: Warehouse) -> int:
    """How many stories the articles make."""
    rows = wh.con.execute("SELECT count(DISTINCT story_id) FROM articles").fetchall()
    return int(rows[0][0])


def republished_stories(wh: Warehouse, days: int, limit: int) -> list[StoryLine]:
    """The ``limit`` stories run by the most outlets (then articles) among those first seen in the ``days``
    days up to the newest one; only stories with more than one article."""
    return _fetch(
        wh,
        _in_utc(StoryLine),
        """SELECT story_id, title, first_url, articles, outlets, first_seen_at FROM v_stories
           WHERE articles > 1
             AND first_seen_at >= (SELECT max(first_seen_at) FROM v_stories) - to_days(?::INTEGER)
           ORDER BY outlets DESC, articles DESC, first_seen_at DESC, story_id LIMIT ?""",
        [days, limit],
    )


def items_by_status(wh: Warehouse) -> dict[str, int]:
    """How many ledger items have each status, in status order."""
    rows = wh.con.execute("SELECT status, count(*) FROM items GROUP BY 1 ORDER BY 1").fetchall()
    return {str(status): int(n) for status, n in rows}


def topic_counts(wh: Warehouse) -> dict[str, int]:
    """How many articles have each assigned topic, in topic order."""
    rows = wh.con.execute(
        "SELECT t, count(*) FROM (SELECT unnest(topics) AS t FROM v_articles) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {str(topic): int(n) for topic, n in rows}


def articles_per_day_topic(wh: Warehouse, days: int, no_topic: str) -> list[DayTopicCount]:
    """Articles per UTC day of publication (fetch time when the date is unknown) and topic, over the ``days``
    days up to the newest article's; an article counts once per topic, or once as ``no_topic``."""
    return _fetch(
        wh,
        DayTopicCount,
        """
        WITH a AS (
            SELECT CAST(timezone('UTC', COALESCE(published_at, fetched_at)) AS DATE) AS day, topics
            FROM v_articles
        ), span AS (SELECT max(day) AS last FROM a)
        SELECT day, topic, count(*) AS count FROM (
            SELECT day, unnest(CASE WHEN len(topics) = 0 THEN [?] ELSE topics END) AS topic
            FROM a, span WHERE day > span.last - CAST(? AS INTEGER)
        ) GROUP BY ALL ORDER BY ALL
        """,
        [no_topic, days],
    )


def top_feeds(wh: Warehouse, limit: int) -> list[Ranked]:
    """The ``limit`` feeds with the most articles."""
    return _fetch(
        wh,
        _in_utc(Ranked),
        """SELECT feed AS name, count(*) AS count, max(published_at) AS last FROM articles
           GROUP BY feed ORDER BY count DESC, feed LIMIT ?""",
        [limit],
    )


def top_domains(wh: Warehouse, limit: int) -> list[Ranked]:
    """The ``limit`` hosts of canonical URLs with the most articles."""
    return _fetch(
        wh,
        _in_utc(Ranked),
        r"""SELECT lower(regexp_extract(canonical_url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1)) AS name,
                   count(*) AS count, max(published_at) AS last
            FROM articles GROUP BY name ORDER BY count DESC, name LIMIT ?""",
        [limit],
    )


def latest_articles(wh: Warehouse) -> list[ArticleLine]:
    """Every article, newest publication first, with its title cut to 60 characters."""
    return _fetch(
        wh,
        ArticleLine,
        "SELECT feed, left(title, 60) AS title, language, word_count AS words, topics FROM v_articles "
        "ORDER BY published_at DESC",
    )


# -- feeds ---------------------------------------------------------------------------------------------------


def feed_health(wh: Warehouse) -> list[FeedHealth]:
    """Every feed with its recent health, failing feeds first (longest failing first), then by name.

    Polls and failures are summed over the seven days up to the newest ``feed_health`` day; they are None
    for a feed without such rows, or in a snapshot from before that table.
    """
    health = (
        """(SELECT feed, sum(polls) AS polls, sum(failures) AS failures FROM feed_health
            WHERE day > (SELECT max(day) FROM feed_health) - 7 GROUP BY feed)"""
        if wh.has("feed_health")
        else "(SELECT NULL AS feed, NULL AS polls, NULL AS failures WHERE FALSE)"
    )
    return _fetch(
        wh,
        _in_utc(FeedHealth),
        f"""
        SELECT f.name, f.url, f.last_status, f.last_http_status, f.last_error, f.consecutive_failures,
               f.last_polled_at, f.last_success_at, f.next_poll_at,
               CAST(h.polls AS BIGINT) AS polls_7d, CAST(h.failures AS BIGINT) AS failures_7d,
               COALESCE(a.n, 0) AS articles
        FROM feeds f
        LEFT JOIN {health} h ON h.feed = f.name
        LEFT JOIN (SELECT feed, count(*) AS n FROM articles GROUP BY feed) a ON a.feed = f.name
        ORDER BY (f.consecutive_failures > 0 OR f.last_status IN ('error', 'deferred')) DESC,
                 f.consecutive_failures DESC, f.last_success_at NULLS FIRST, f.name
        """,
    )


def feed_statuses(wh: Warehouse) -> list[FeedStatus]:
    """``newsflow feeds``: every feed's last poll and schedule, most failures first, then the longest
    without success."""
    return _fetch(
        wh,
        FeedStatus,
        """
        SELECT name, last_status, last_http_status AS http, last_success_at, consecutive_failures AS failures,
               next_poll_at, poll_interval_min AS interval_min, left(last_error, 60) AS last_error
        FROM feeds
        ORDER BY consecutive_failures DESC, last_success_at NULLS FIRST, name
        """,
    )


def feed_counts(wh: Warehouse) -> FeedCounts:
    """How many feeds are known and failing, and when one was last polled."""
    (counts,) = _fetch(
        wh,
        FeedCounts,
        """SELECT count(*) AS known, count(*) FILTER (WHERE consecutive_failures > 0) AS failing,
                  max(last_polled_at) AS last_poll
           FROM feeds""",
    )
    return counts
