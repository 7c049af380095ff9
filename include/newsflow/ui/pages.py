"""What each page shows, gathered from the analysts' published snapshot by the warehouse's named queries.

Pages read the snapshot (:func:`newsflow.warehouse.open_for_reading`), never the live file, so a page never
blocks or waits for a load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from newsflow.models import QuarantineRecord, ValidationRun
from newsflow.quality import docs_url_path
from newsflow.ui.formatting import clip
from newsflow.warehouse import Warehouse, open_for_reading, queries

NO_TOPIC = "(no topic)"
"""How the Warehouse page labels articles without a topic."""
STORY_DAYS = 7
"""The Warehouse page's most republished stories: those first seen in the last this many days."""


@dataclass(frozen=True)
class Snapshot:
    """Which file a report was read from and when it was published."""

    path: Path
    published_at: datetime


@dataclass(frozen=True)
class DocsPages:
    """Each validation run's page below the Data Docs site; a run without one (none, or pruned) is absent."""

    pages: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def find(cls, home: Path, runs: Sequence[ValidationRun]) -> DocsPages:
        found = ((r, docs_url_path(home, r.data_docs_path)) for r in runs)
        return cls({(r.run_id, r.suite): page for r, page in found if page})

    def of(self, run: ValidationRun) -> str | None:
        return self.pages.get((run.run_id, run.suite))


@dataclass(frozen=True)
class QuarantineExample:
    """A quarantined row as the pages show it, with the value of the column its expectation checks."""

    row: QuarantineRecord
    value: str | None
    """The checked column's value, when the expectation's name says which column that is."""

    @property
    def feed(self) -> str | None:
        return self.row.record.get("feed")

    @property
    def title(self) -> str | None:
        return self.row.record.get("title")

    @property
    def url(self) -> str | None:
        return self.row.record.get("url") or self.row.record.get("canonical_url")

    @property
    def published_at(self) -> str | None:
        value = self.row.record.get("published_at")
        return None if value is None else str(value)


@dataclass(frozen=True)
class QuarantineReason:
    """One expectation rows failed: how often, when last, and a few of those rows."""

    expectation: str
    explanation: str
    count: int
    last_seen: datetime | None
    examples: list[QuarantineExample] = field(default_factory=list)


@dataclass(frozen=True)
class QualityReport:
    """The Data Quality page."""

    snapshot: Snapshot
    runs: list[ValidationRun]
    """Most recent first."""
    trend: list[ValidationRun]
    """Oldest first, for the chart."""
    reasons: list[QuarantineReason]
    runs_total: int
    runs_failed: int
    rows_evaluated: int
    quarantined_total: int
    docs: DocsPages = field(default_factory=DocsPages)


@dataclass(frozen=True)
class WarehouseReport:
    """The Warehouse page."""

    snapshot: Snapshot
    articles: int
    items_by_status: dict[str, int]
    days: list[date]
    topics: list[str]
    per_day_topic: dict[tuple[date, str], int]
    top_feeds: list[queries.Ranked]
    top_domains: list[queries.Ranked]
    feeds: list[queries.FeedHealth]
    ledger_violations: int
    stories: int | None = None
    """Stories the articles make (None: a snapshot from before stories)."""
    republished: list[queries.StoryLine] = field(default_factory=list)
    """The most republished stories of the last days."""


@dataclass(frozen=True)
class RunReport:
    """The validation runs and quarantined rows of one DAG run."""

    snapshot: Snapshot | None
    dag_id: str
    dag_run_id: str
    staging_names: list[str]
    runs: list[ValidationRun] = field(default_factory=list)
    quarantined: list[tuple[QuarantineExample, list[str]]] = field(default_factory=list)
    docs: DocsPages = field(default_factory=DocsPages)


def _open(warehouse: Path) -> tuple[Warehouse, Snapshot] | None:
    wh = open_for_reading(warehouse)
    if wh is None:
        return None
    return wh, Snapshot(wh.path, datetime.fromtimestamp(wh.path.stat().st_mtime, UTC))


def _split_reason(reason: str) -> tuple[str, str]:
    """``"name: why"`` -> (name, why); topic reasons keep their ``topic X:`` prefix in the name."""
    head, sep, rest = reason.partition(": ")
    if head.startswith("topic ") and sep:
        name, sep2, why = rest.partition(": ")
        return (f"{head}: {name}", why) if sep2 else (head, rest)
    return (head, rest) if sep else (reason, "")


def _checked_value(expectation: str, record: Mapping[str, Any]) -> str | None:
    """The record's value of the column an expectation name starts with (``published_at_not_future``)."""
    name = expectation.rpartition(": ")[2]
    columns = sorted((k for k in record if name == k or name.startswith(k + "_")), key=len, reverse=True)
    if not columns:
        return None
    value = record.get(columns[0])
    if isinstance(value, str) and name.endswith(("_length", "_length_bounds")):
        return f"{len(value):,} characters"
    return clip("null" if value is None else str(value), 200)


def _example(row: QuarantineRecord, expectation: str | None) -> QuarantineExample:
    return QuarantineExample(row, _checked_value(expectation, row.record) if expectation else None)


def quality_report(
    warehouse: Path, home: Path, *, recent: int = 40, trend: int = 60, top_reasons: int = 8, examples: int = 3
) -> QualityReport | None:
    """The Data Quality page's data (``home``: the data directory of the Data Docs); None when there is no
    warehouse yet."""
    opened = _open(warehouse)
    if opened is None:
        return None
    wh, snapshot = opened
    with wh:
        if not queries.has_validation_history(wh):
            return QualityReport(snapshot, [], [], [], 0, 0, 0, 0)
        runs = queries.recent_validation_runs(wh, recent)
        reasons = []
        for top in queries.top_quarantine_reasons(wh, top_reasons):
            name, why = _split_reason(top.reason)
            rows = queries.quarantined_with_reason(wh, top.reason, examples)
            reasons.append(
                QuarantineReason(name, why, top.count, top.last_seen, [_example(r, name) for r in rows])
            )
        totals = queries.quality_totals(wh)
        return QualityReport(
            snapshot=snapshot,
            runs=runs,
            trend=queries.latest_validation_runs(wh, trend),
            reasons=reasons,
            runs_total=totals.runs,
            runs_failed=totals.failed_runs,
            rows_evaluated=totals.rows_evaluated,
            quarantined_total=totals.quarantined,
            docs=DocsPages.find(home, runs),
        )


def _topic_order(per_day_topic: Mapping[tuple[date, str], int]) -> list[str]:
    """Topics by name, ``NO_TOPIC`` last."""
    names = sorted({t for _, t in per_day_topic if t != NO_TOPIC})
    return [*names, NO_TOPIC] if any(t == NO_TOPIC for _, t in per_day_topic) else names


def warehouse_report(warehouse: Path, *, days: int = 30, top: int = 10) -> WarehouseReport | None:
    """The Warehouse page's data; None when there is no warehouse yet.

    Articles are counted per UTC day of publication (fetch time when the date is unknown), at most ``days``
    days up to the newest article's day; an article with several topics counts once per topic.
    """
    opened = _open(warehouse)
    if opened is None:
        return None
    wh, snapshot = opened
    with wh:
        stories = queries.has_stories(wh)
        counts = queries.articles_per_day_topic(wh, days, NO_TOPIC)
        per_day_topic = {(c.day, c.topic): c.count for c in counts}
        span: list[date] = []
        if counts:
            first, last = min(c.day for c in counts), max(c.day for c in counts)
            span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return WarehouseReport(
            snapshot=snapshot,
            articles=queries.article_counts(wh).articles,
            items_by_status=queries.items_by_status(wh),
            days=span,
            topics=_topic_order(per_day_topic),
            per_day_topic=per_day_topic,
            top_feeds=queries.top_feeds(wh, top),
            top_domains=queries.top_domains(wh, top),
            feeds=queries.feed_health(wh),
            ledger_violations=len(wh.ledger_violations()),
            stories=queries.story_count(wh) if stories else None,
            republished=queries.republished_stories(wh, STORY_DAYS, top) if stories else [],
        )


def run_report(
    warehouse: Path, home: Path, dag_id: str, dag_run_id: str, names: Sequence[str], *, max_rows: int = 100
) -> RunReport:
    """The validation runs and quarantined rows of the staging runs ``names`` (one DAG run's)."""
    opened = _open(warehouse)
    if opened is None:
        return RunReport(None, dag_id, dag_run_id, list(names))
    wh, snapshot = opened
    with wh:
        if not names or not queries.has_validation_history(wh):
            return RunReport(snapshot, dag_id, dag_run_id, list(names))
        runs = queries.validation_runs_of(wh, names)
        quarantined = []
        for row in queries.quarantined_in_runs(wh, names, max_rows):
            first = _split_reason(row.reasons[0])[0] if row.reasons else None
            quarantined.append((_example(row, first), list(row.reasons)))
    return RunReport(snapshot, dag_id, dag_run_id, list(names), runs, quarantined, DocsPages.find(home, runs))
