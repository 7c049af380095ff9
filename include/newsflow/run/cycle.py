"""The stages of one ingestion cycle, as functions the CLI and the Airflow DAGs both call.

``select_due`` and ``plan_items`` read the warehouse; ``poll_feeds`` and ``fetch_articles`` (in
:mod:`newsflow.articles.stage`) touch only the network and the raw store; ``Warehouse.load_batch`` is the only
write. ``run_cycle`` chains them for one process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newsflow.articles.rawstore import RawStore
from newsflow.articles.stage import extraction_workers, fetch_articles
from newsflow.config.loader import FeedConfig, FeedsFile, Settings, data_home
from newsflow.feeds.poll import poll_feed
from newsflow.feeds.schedule import is_due
from newsflow.models import Batch, FeedState, HostPause, PollResult, is_not_fetched
from newsflow.net.fetcher import Fetcher
from newsflow.net.guard import NetGuard
from newsflow.quality.gate import GateResult, ensure_project, validate_batch
from newsflow.topics.stage import classifier_pool, classify_articles, classify_texts, make_classifier
from newsflow.urls import host_of
from newsflow.warehouse.store import LoadStats, Warehouse, active_pauses

LOGGER = logging.getLogger(__name__)


@dataclass
class CycleSummary:
    """What one cycle did; printed by ``newsflow run``."""

    feeds_polled: int = 0
    feeds_failed: int = 0
    feeds_skipped: int = 0
    feeds_not_modified: int = 0
    items_seen: int = 0
    items_new: int = 0
    items_known: int = 0
    fetched: int = 0
    not_fetched: int = 0
    """Items left for the next run without a request (counted among the failed): the fetch budget ran out, or
    their host asked for a long pause."""
    load: LoadStats = field(default_factory=LoadStats)
    failures: list[tuple[str, str]] = field(default_factory=list)
    raw_pruned: int = 0
    quarantine_share: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage, in the order the stages ran."""

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def lines(self) -> list[str]:
        s = self.load
        out = [
            f"feeds:    {self.feeds_polled} polled, {self.feeds_failed} failed, "
            f"{self.feeds_not_modified} unchanged (304 or same body), {self.feeds_skipped} not due",
            f"items:    {self.items_seen} seen, {s.items_new} new, {self.items_known} already known, "
            f"{s.duplicate} duplicate, {s.failed} failed, {s.quarantined} quarantined",
            f"articles: {self.fetched} fetched, {s.articles_inserted} loaded, {s.articles_updated} updated",
        ]
        if self.not_fetched:
            out.append(
                f"later:    {self.not_fetched} of the failed items were not requested (the fetch budget "
                "ran out, or their host asked for a pause); later runs fetch them first"
            )
        if self.timings:
            out.append("time:     " + ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items()))
        out += [f"  failed: {name}: {reason}" for name, reason in self.failures]
        return out


def make_fetcher(config: FeedsFile) -> Fetcher:
    return Fetcher(config.settings, NetGuard(config.allow_hosts))


def select_due(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    now: datetime,
    force: bool = False,
    pauses: Sequence[HostPause] = (),
) -> list[FeedConfig]:
    """Feeds whose next poll time has come (all of them with ``force``), except those on a host whose pause
    (``Retry-After``) is still on: politeness is never forced."""
    paused = active_pauses(pauses, now)
    return [
        f
        for f in feeds
        if (force or is_due(states.get(f.name, FeedState(f.name)).next_poll_at, now))
        and host_of(f.url) not in paused
    ]


def poll_feeds(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    fetcher: Fetcher,
    settings: Settings,
    *,
    max_items: int | None = None,
    now: datetime | None = None,
) -> list[PollResult]:
    """Poll feeds concurrently; one broken feed never stops the others."""
    if not feeds:
        return []

    def one(feed: FeedConfig) -> PollResult:
        state = states.get(feed.name, FeedState(feed.name))
        return poll_feed(feed, state, fetcher, settings, max_items=max_items, now=now)

    with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(feeds))) as pool:
        return list(pool.map(one, feeds))


def run_cycle(
    config: FeedsFile,
    warehouse_path: Path,
    *,
    home: Path | None = None,
    feed_names: list[str] | None = None,
    max_items: int | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> CycleSummary:
    """One full cycle in this process: poll due feeds, fetch new articles, load everything."""
    now = now or datetime.now(UTC)
    summary = CycleSummary()
    raw = RawStore(home or data_home())
    with Warehouse(warehouse_path) as wh, make_fetcher(config) as fetcher:
        with summary.timed("poll"):
            states, stored = wh.feed_states(), wh.host_pauses()
            fetcher.honour(stored, now)  # no request to a host before the end of the pause it asked for
            feeds = config.selected(feed_names)
            due = select_due(feeds, states, now, force or bool(feed_names), stored)
            summary.feeds_skipped = len(feeds) - len(due)
            polls = poll_feeds(due, states, fetcher, config.settings, max_items=max_items, now=now)
            plan = wh.plan(polls, config.settings.max_item_attempts, pauses=fetcher.pauses(), now=now)
        # A cycle that brings nothing new (the usual one) neither starts workers, classifies nor validates.
        classifier = make_classifier(config.taxonomy) if plan.to_fetch else None
        workers = extraction_workers(config.settings, len(plan.to_fetch))
        with ExitStack() as stack:
            # One set of worker processes extracts the pages, then classifies the articles.
            pool = None
            if classifier is not None and workers > 1:
                pool = stack.enter_context(
                    classifier_pool(classifier, workers, call_timeout_s=config.settings.extract_timeout_s)
                )
            with summary.timed("fetch+extract"):
                outcomes = fetch_articles(
                    plan.to_fetch, fetcher, config.settings, raw, attempts=plan.attempts, pool=pool
                )
            articles = [o.article for o in outcomes if o.article is not None]
            topics = []
            if classifier is not None and articles:
                with summary.timed("classify"):
                    topics = classify_articles(articles, classifier, workers=workers, pool=pool)
        batch = Batch(
            polls=polls,
            outcomes=plan.duplicates + plan.paused + outcomes,
            topics=topics,
            host_pauses=fetcher.pauses(),
        )
        gate = GateResult(batch, [], 0.0)
        if classifier is not None and articles:
            with summary.timed("validate"):
                gate = validate_batch(
                    batch,
                    ensure_project(home or data_home()),
                    run_id=f"cli-{now:%Y%m%dT%H%M%S%f}",
                    now=now,
                    topic_names=classifier.topics,
                )
        with summary.timed("load"):
            stats = wh.load_batch(gate.batch, now=now)
            wh.publish(
                changed_content=stats.changed_content, max_age_s=config.settings.snapshot_max_age_min * 60
            )
    summary.quarantine_share = gate.failed_share
    summary.raw_pruned = raw.prune(config.settings.raw_html_retention_days, now=now)
    summary.feeds_polled = len(polls)
    summary.feeds_failed = sum(1 for p in polls if p.failed)
    summary.feeds_not_modified = sum(1 for p in polls if p.status in ("not_modified", "unchanged"))
    summary.items_seen = sum(len(p.items) for p in polls)
    summary.items_known = plan.known_unchanged
    left = sum(1 for o in outcomes if is_not_fetched(o))
    summary.not_fetched = len(plan.paused) + left
    summary.fetched = len(plan.to_fetch) - left
    summary.load = stats
    summary.failures = [(p.feed, p.error or "") for p in polls if p.failed]
    summary.failures += [
        (o.item.link or o.item.item_id, o.reason or "")
        for o in outcomes
        if o.status == "failed" and not is_not_fetched(o)
    ]
    return summary


@dataclass
class ReclassifySummary:
    classifier_version: str
    articles: int = 0
    rows_written: int = 0
    rows_removed: int = 0


def reclassify(
    warehouse_path: Path, taxonomy: str | Path | None = None, batch_size: int = 5000
) -> ReclassifySummary:
    """Re-score every stored article with the current taxonomy, replacing other versions' rows.

    No refetch; idempotent (a second run with the same taxonomy writes nothing); each batch commits on its
    own, so an interrupted run resumes by running again.
    """
    classifier = make_classifier(taxonomy)
    summary = ReclassifySummary(classifier.version)
    with Warehouse(warehouse_path) as wh:
        for rows in wh.articles_for_classification(batch_size):
            stats = wh.store_topics(classify_texts(rows, classifier))
            summary.articles += len(rows)
            summary.rows_written += stats.topic_rows_written
            summary.rows_removed += stats.topic_rows_removed
        wh.publish()
    return summary
