"""``newsflow run``: one ingestion cycle in this process, made of the same stage functions the DAGs run.

The cycle holds the warehouse (the one writer) from the start, so it plans against it rather than the
snapshot, and shares one fetcher (each host's pace across polls and pages) and one set of worker processes
(extraction, then classification) between its stages. Its staging folder is removed once the cycle ends:
the raw store keeps the pages, the warehouse the rest.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from newsflow.articles import RawStore, extraction_workers
from newsflow.config import FeedsFile, data_home
from newsflow.models import ItemOutcome, is_not_fetched
from newsflow.run.curate import classify_runs, gate_verdict, load_runs, validate_runs
from newsflow.run.ingest import fetch_stage, make_fetcher, plan_polls, plan_stage, planned, poll_group
from newsflow.run.layout import RunFolder
from newsflow.run.parquet import read_records
from newsflow.stories import StoryParams
from newsflow.topics import classifier_pool, make_classifier
from newsflow.warehouse import LoadStats, Warehouse


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
    """One full cycle in this process: poll due feeds, fetch new articles, classify, validate, load."""
    now = now or datetime.now(UTC)
    home = home or data_home()
    run_id = f"cli-{now:%Y%m%dT%H%M%S%f}"
    run = RunFolder.of(home, run_id)
    try:
        return _chain(config, warehouse_path, home, run_id, run, feed_names, max_items, force, now)
    finally:
        shutil.rmtree(run.path, ignore_errors=True)


def _chain(
    config: FeedsFile,
    warehouse_path: Path,
    home: Path,
    run_id: str,
    run: RunFolder,
    feed_names: list[str] | None,
    max_items: int | None,
    force: bool,
    now: datetime,
) -> CycleSummary:
    summary = CycleSummary()
    settings = config.settings
    with Warehouse(warehouse_path) as wh, make_fetcher(config) as fetcher:
        with summary.timed("poll"):
            specs = plan_polls(
                config, warehouse_path, feed_names=feed_names, force=force, now=now, home=home, reader=wh
            )
            summary.feeds_skipped = len(config.selected(feed_names)) - len(specs)
            polls = poll_group(
                config,
                specs,
                run_id=run_id,
                home=home,
                group="cycle",
                max_items=max_items,
                fetcher=fetcher,
                now=now,
            )
            batches = plan_stage(
                config,
                run_id=run_id,
                home=home,
                warehouse=warehouse_path,
                batch_size=None,
                reader=wh,
                now=now,
            )
        plan = planned(home, run_id)
        # A cycle that brings nothing new (the usual one) neither starts workers, classifies nor validates.
        classifier = make_classifier(config.taxonomy) if plan["to_fetch"] else None
        workers = extraction_workers(settings, plan["to_fetch"])
        articles = 0
        with ExitStack() as stack:
            pool = None  # one set of worker processes extracts the pages, then classifies the articles
            if classifier is not None and workers > 1:
                pool = stack.enter_context(
                    classifier_pool(classifier, workers, call_timeout_s=settings.extract_timeout_s)
                )
            with summary.timed("fetch+extract"):
                for batch in batches:
                    fetch_stage(config, batch, home=home, fetcher=fetcher, pool=pool, journal=False, now=now)
            outcomes = [o for b in batches for o in read_records(run.outcome_file(Path(b)), ItemOutcome)]
            if classifier is not None and any(o.article is not None for o in outcomes):
                with summary.timed("classify"):
                    articles = classify_runs([run.path], classifier, workers=workers, pool=pool)
        if classifier is not None and articles:
            from newsflow.quality import ensure_project

            with summary.timed("validate"):
                ensure_project(home)
                validate_runs([str(run.path)], home=home, topic_names=classifier.topics, now=now)
        with summary.timed("load"):
            load_runs(
                [str(run.path)],
                warehouse=warehouse_path,
                snapshot_max_age_s=settings.snapshot_max_age_min * 60,
                writer=wh,
                now=now,
                stories=StoryParams.of(settings),
            )
    marker = run.loaded()
    summary.load = LoadStats(**{f.name: marker[f.name] for f in fields(LoadStats)})
    summary.quarantine_share = (gate_verdict(run.path) or {}).get("failed_share", 0.0)
    summary.raw_pruned = RawStore(home).prune(settings.raw_html_retention_days, now=now)
    summary.feeds_polled = len(polls)
    summary.feeds_failed = sum(1 for p in polls if p.failed)
    summary.feeds_not_modified = sum(1 for p in polls if p.status in ("not_modified", "unchanged"))
    summary.items_seen = sum(len(p.items) for p in polls)
    summary.items_known = plan["known_unchanged"]
    left = sum(1 for o in outcomes if is_not_fetched(o))
    summary.not_fetched = plan["paused"] + left
    summary.fetched = plan["to_fetch"] - left
    summary.failures = [(p.feed, p.error or "") for p in polls if p.failed]
    summary.failures += [
        (o.item.link or o.item.item_id, o.reason or "")
        for o in outcomes
        if o.status == "failed" and not is_not_fetched(o)
    ]
    return summary
