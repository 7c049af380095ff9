"""The pipeline's stages as file-to-file steps, for orchestrators that run each in its own process.

Airflow's DAGs call these (one function per task); they pass only small values (paths, counts, names).
Network stages never open the warehouse; planning reads the published snapshot; only :func:`curate`
writes, in one transaction per staged ingest run.

Layout of a run's staging folder ``<home>/staging/<run>/``::

    polls/<feed>.parquet       one PollResult per feed (with its items)
    fetch/batch-0000.parquet   FeedItems to fetch, in batches (a host's items in one batch)
    outcomes/duplicates.parquet, outcomes/batch-0000.parquet   ItemOutcomes (with articles)
    manifest.json              written last: the run is complete and ready to load
    loaded.json                written by curate after the load committed
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from newsflow.articles.journal import DownloadJournal
from newsflow.articles.rawstore import RawStore
from newsflow.articles.stage import fetch_articles
from newsflow.config.loader import FeedsFile
from newsflow.feeds.poll import poll_feed
from newsflow.models import (
    Batch,
    FeedItem,
    FeedState,
    HostPause,
    ItemOutcome,
    PollResult,
    QuarantineRecord,
    TopicRow,
    ValidationRun,
    is_not_fetched,
)
from newsflow.run.cycle import make_fetcher, select_due
from newsflow.run.staging import from_record, read_records, to_record, write_records
from newsflow.topics.stage import classify_articles, make_classifier
from newsflow.urls import host_of
from newsflow.warehouse.store import (
    Plan,
    Warehouse,
    active_pauses,
    defer_paused,
    open_feed_state,
    open_for_reading,
    snapshot_path,
)
from newsflow.workers.pool import cpu_workers

LOGGER = logging.getLogger(__name__)
_SAFE_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_dir(home: Path, run_id: str) -> Path:
    """The staging folder of one ingest run (run ids become safe folder names)."""
    safe = _SAFE_RE.sub("_", run_id).strip("._")[:120] or "run"
    return home / "staging" / safe


def deterministic_poll_id(run_id: str, feed: str) -> str:
    """Re-running a poll task in the same run gives the same poll id, so the load counts it once."""
    return hashlib.sha256(f"{run_id}\x1f{feed}".encode()).hexdigest()[:32]


# -- ingest ---------------------------------------------------------------------------------------------


def plan_polls(
    config: FeedsFile,
    warehouse: Path,
    *,
    feed_names: list[str] | None = None,
    force: bool = False,
    now: datetime | None = None,
    home: Path | None = None,
) -> list[dict[str, Any]]:
    """The feeds due now, each with its stored state and the host pauses still on (small dicts, fit for
    XCom). Pauses are those of the snapshot and, with ``home``, of the runs still to be loaded."""
    now = now or datetime.now(UTC)
    wh = open_feed_state(warehouse)  # newer than the snapshot when the last load changed only feed status
    states: dict[str, FeedState] = {}
    pauses: list[HostPause] = [p for run in pending_runs(home) for p in staged_pauses(run)] if home else []
    if wh is not None:
        with wh:
            states = wh.feed_states()
            pauses += wh.host_pauses()
    feeds = config.selected(feed_names)
    due = select_due(feeds, states, now, force or bool(feed_names), pauses)
    on = [to_record(p) for p in active_pauses(pauses, now).values()]
    return [
        {"feed": f.name, "state": to_record(states.get(f.name, FeedState(f.name))), "pauses": on} for f in due
    ]


def poll_stage(
    config: FeedsFile, spec: dict[str, Any], *, run_id: str, home: Path, max_items: int | None = None
) -> dict[str, Any]:
    """Poll one feed and stage the result; returns counts and the staged path."""
    feed = next(f for f in config.feeds if f.name == spec["feed"])
    state = from_record(FeedState, spec["state"])
    with make_fetcher(config) as fetcher:
        fetcher.honour(from_record(HostPause, p) for p in spec.get("pauses", ()))  # a redirect to one, say
        fetcher.honour(staged_pauses(run_dir(home, run_id)))  # found by this run so far (a retried task)
        result = poll_feed(
            feed,
            state,
            fetcher,
            config.settings,
            max_items=max_items,
            poll_id=deterministic_poll_id(run_id, feed.name),
        )
        _stage_pauses(run_dir(home, run_id), f"poll-{feed.name}", fetcher.pauses())
    path = write_records(run_dir(home, run_id) / "polls" / f"{feed.name}.parquet", PollResult, [result])
    return {
        "feed": feed.name,
        "status": result.status,
        "items": len(result.items),
        "error": result.error,
        "path": str(path),
    }


def _stage_pauses(folder: Path, name: str, pauses: Sequence[HostPause]) -> None:
    """Stage the pauses hosts asked for during a task, with those its earlier attempts staged."""
    path = folder / "pauses" / f"{name}.parquet"
    earlier = read_records(path, HostPause) if path.exists() else []
    merged = active_pauses([*earlier, *pauses], datetime.min.replace(tzinfo=UTC))
    if merged:
        write_records(path, HostPause, sorted(merged.values(), key=lambda p: p.host))


def staged_pauses(folder: Path) -> list[HostPause]:
    return [p for f in sorted((folder / "pauses").glob("*.parquet")) for p in read_records(f, HostPause)]


def host_batches(items: Sequence[FeedItem], size: int) -> list[list[FeedItem]]:
    """Fetch batches that keep each host's items together, largest hosts first.

    A fetcher enforces the per-host politeness (minimum delay, requests in flight, ``Retry-After`` pauses)
    for its own requests only, and each fetch task has its own: with a host in one batch, parallel tasks never
    fetch from the same host. A host with ``size`` items or more gets a batch of its own, whatever its length;
    smaller hosts share batches of up to ``size`` items.
    """
    by_host: dict[str, list[FeedItem]] = {}
    for item in items:
        by_host.setdefault(host_of(item.link), []).append(item)
    batches: list[list[FeedItem]] = []
    shared: list[FeedItem] = []
    for group in sorted(by_host.values(), key=len, reverse=True):
        if len(group) >= size:
            batches.append(group)
            continue
        if len(shared) + len(group) > size:
            batches.append(shared)
            shared = []
        shared += group
    if shared:
        batches.append(shared)
    return batches


def plan_stage(
    config: FeedsFile, *, run_id: str, home: Path, warehouse: Path, batch_size: int = 25
) -> list[str]:
    """Decide what to fetch (against the published snapshot) and stage it in batches; returns batch paths."""
    folder = run_dir(home, run_id)
    polls = [p for f in sorted((folder / "polls").glob("*.parquet")) for p in read_records(f, PollResult)]
    in_flight = {  # fetched by earlier runs that wait for their load: the snapshot does not know them yet
        item.item_id: item.entry_hash
        for run in pending_runs(home)
        if run != folder
        for batch in sorted((run / "fetch").glob("batch-*.parquet"))
        for item in read_records(batch, FeedItem)
    }
    # Pauses asked for in this run's polls, in runs still to be loaded, and stored by loads (the feed state
    # has them all, the snapshot those it had when last published). Not those of this run's own fetch
    # tasks: a re-run of this task must plan the same batches.
    pauses = [
        p for f in sorted((folder / "pauses").glob("poll-*.parquet")) for p in read_records(f, HostPause)
    ]
    pauses += [p for run in pending_runs(home) if run != folder for p in staged_pauses(run)]
    if (state := open_feed_state(warehouse)) is not None:
        with state:
            pauses += state.host_pauses()
    wh = open_for_reading(warehouse)
    if wh is None:
        items = [i for p in polls for i in p.items if in_flight.get(i.item_id) != i.entry_hash]
        plan = defer_paused(Plan(to_fetch=items), pauses, datetime.now(UTC))
    else:
        with wh:
            plan = wh.plan(polls, config.settings.max_item_attempts, in_flight, pauses=pauses)
            pauses += wh.host_pauses()
    write_records(folder / "outcomes" / "duplicates.parquet", ItemOutcome, plan.duplicates)
    write_records(folder / "outcomes" / "paused.parquet", ItemOutcome, plan.paused)
    (folder / "fetch").mkdir(parents=True, exist_ok=True)
    (folder / "fetch" / "attempts.json").write_text(json.dumps(plan.attempts))
    write_records(folder / "fetch" / "pauses.parquet", HostPause, pauses)  # for the fetch tasks to honour
    paths = []
    for n, chunk in enumerate(host_batches(plan.to_fetch, batch_size)):
        paths.append(str(write_records(folder / "fetch" / f"batch-{n:04d}.parquet", FeedItem, chunk)))
    # A re-run that plans fewer batches (the snapshot changed meanwhile) leaves no stale batch behind: its
    # items, and its outcomes, would be staged twice. (Pauses its fetch task met stay: they are the hosts'.)
    for stale in set((folder / "fetch").glob("batch-*.parquet")) - {Path(p) for p in paths}:
        stale.unlink(missing_ok=True)
        (folder / "outcomes" / stale.name).unlink(missing_ok=True)
        DownloadJournal(batch_journal(stale)).clear()
    return paths


def batch_journal(batch: Path) -> Path:
    """The folder where a fetch task keeps its downloads until its outcomes are staged."""
    return batch.with_name(f"{batch.stem}.journal")


def fetch_stage(config: FeedsFile, batch_path: str, *, home: Path) -> dict[str, Any]:
    """Fetch and extract one staged batch; stage the outcomes beside the run's other outputs."""
    batch = Path(batch_path)
    items = read_records(batch, FeedItem)
    attempts = json.loads((batch.parent / "attempts.json").read_text())
    journal = DownloadJournal(batch_journal(batch))  # what an earlier try of this task downloaded
    if kept := len(journal):
        LOGGER.info("%s: %d downloads kept by an earlier try are not made again", batch.stem, kept)
    with make_fetcher(config) as fetcher:
        pauses = batch.parent / "pauses.parquet"  # none in a run planned by an older newsflow
        fetcher.honour(read_records(pauses, HostPause) if pauses.exists() else [])  # a redirect to one, say
        fetcher.honour(staged_pauses(batch.parent.parent))  # found by this run so far (a retried task)
        try:
            outcomes = fetch_articles(
                items, fetcher, config.settings, RawStore(home), attempts=attempts, journal=journal
            )
        finally:  # a task that fails or times out still passes its pauses on to its retry
            _stage_pauses(batch.parent.parent, batch.stem, fetcher.pauses())
    out = batch.parent.parent / "outcomes" / batch.name
    write_records(out, ItemOutcome, outcomes)
    journal.clear()  # the outcomes are staged and the raw store holds the pages
    return {
        "path": str(out),
        "loaded": sum(o.status == "loaded" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "not_fetched": sum(is_not_fetched(o) for o in outcomes),
    }


def finish_ingest(*, run_id: str, home: Path) -> dict[str, Any]:
    """Write the run's manifest (the run is now complete and loadable); returns its counts."""
    folder = run_dir(home, run_id)
    polls = [p for f in sorted((folder / "polls").glob("*.parquet")) for p in read_records(f, PollResult)]
    outcome_files = sorted((folder / "outcomes").glob("*.parquet"))
    outcomes = [o for f in outcome_files for o in read_records(f, ItemOutcome)]
    manifest = {
        "run_id": run_id,
        "staged_at": datetime.now(UTC).isoformat(),
        "folder": str(folder),
        "feeds_polled": len(polls),
        "feeds_failed": sum(p.failed for p in polls),
        "items_seen": sum(len(p.items) for p in polls),
        "articles_staged": sum(o.status == "loaded" for o in outcomes),
        "duplicates": sum(o.status == "duplicate" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "not_fetched": sum(is_not_fetched(o) for o in outcomes),  # among the failed: for the next run
    }
    tmp = folder / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(folder / "manifest.json")
    return manifest


# -- curate: the one writer ----------------------------------------------------------------------------


def pending_runs(home: Path) -> list[Path]:
    """Staged runs that are complete (manifest written) and not yet loaded, oldest first."""
    root = home / "staging"
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if (d / "manifest.json").exists() and not (d / "loaded.json").exists()]
    return sorted(runs, key=lambda d: json.loads((d / "manifest.json").read_text())["staged_at"])


def read_run(folder: Path, *, validated: bool = True) -> Batch:
    """The staged run as one batch: the validated one (with its quarantine) once the gate has run on it,
    unless ``validated=False`` asks for the batch as staged before the gate."""
    polls = [p for f in sorted((folder / "polls").glob("*.parquet")) for p in read_records(f, PollResult)]
    gated = folder / "validated"
    if validated and (gated / "outcomes.parquet").exists():
        return Batch(
            polls=polls,
            outcomes=read_records(gated / "outcomes.parquet", ItemOutcome),
            topics=read_records(gated / "topics.parquet", TopicRow),
            quarantine=read_records(gated / "quarantine.parquet", QuarantineRecord),
            validations=read_records(gated / "validations.parquet", ValidationRun),
            host_pauses=staged_pauses(folder),
        )
    outcomes = [
        o for f in sorted((folder / "outcomes").glob("*.parquet")) for o in read_records(f, ItemOutcome)
    ]
    topics_file = folder / "topics.parquet"
    topics = read_records(topics_file, TopicRow) if topics_file.exists() else []
    return Batch(polls=polls, outcomes=outcomes, topics=topics, host_pauses=staged_pauses(folder))


def classify_pending(config: FeedsFile, *, home: Path) -> dict[str, Any]:
    """Score the staged articles of every pending run against the taxonomy (no database).

    Returns the runs it classified: the load takes exactly those, so a run staged in between waits for the
    next curate run instead of loading unclassified.
    """
    classifier = make_classifier(config.taxonomy)
    runs = pending_runs(home)
    articles = 0
    for folder in runs:
        staged = [o.article for o in read_run(folder, validated=False).outcomes if o.article is not None]
        topics = classify_articles(staged, classifier, workers=cpu_workers(config.settings))
        write_records(folder / "topics.parquet", TopicRow, topics)
        articles += len(staged)
    return {"runs": [str(r) for r in runs], "articles": articles, "classifier_version": classifier.version}


def validate_runs(
    runs: list[str], *, home: Path, topic_names: list[str], now: datetime | None = None
) -> dict[str, Any]:
    """Run the quality gate on classified runs; stage each validated batch with its quarantine.

    The GX project must have been set up once (``newsflow quality-setup``); this only runs it.
    """
    from newsflow.quality.gate import quality_root, validate_batch
    from newsflow.quality.suites import GXProject

    project = GXProject(quality_root(home))
    if not project.is_set_up():
        raise RuntimeError(f"no GX project in {project.root}: run `newsflow quality-setup` once first")
    now = now or datetime.now(UTC)
    verdicts = []
    for run in runs:
        folder = Path(run)
        if (folder / "loaded.json").exists():
            continue
        if not (folder / "topics.parquet").exists():
            raise RuntimeError(f"{folder.name}: not classified yet (classify_pending runs before the gate)")
        batch = read_run(folder, validated=False)  # a re-run of the gate starts from the staged batch again
        result = validate_batch(batch, project, run_id=folder.name, now=now, topic_names=topic_names)
        out = folder / "validated"
        write_records(out / "quarantine.parquet", QuarantineRecord, result.batch.quarantine)
        write_records(out / "validations.parquet", ValidationRun, result.batch.validations)
        write_records(out / "topics.parquet", TopicRow, result.batch.topics)
        (out / "gate.json").write_text(
            json.dumps({"failed_share": result.failed_share, "quarantined": len(result.batch.quarantine)})
        )
        write_records(out / "outcomes.parquet", ItemOutcome, result.batch.outcomes)  # last: marks it done
        verdicts.append(
            {
                "run": folder.name,
                "failed_share": round(result.failed_share, 4),
                "quarantined": len(result.batch.quarantine),
                "docs": [r.data_docs_path for r in result.reports],
            }
        )
    return {"runs": runs, "verdicts": verdicts}


def enforce_gate(runs: list[str], max_share: float) -> list[dict[str, Any]]:
    """Fail loudly (after the load wrote the quarantine) when a run's failing share passed the threshold."""
    from newsflow.quality.gate import QuarantineShareExceeded

    verdicts = []
    for run in runs:
        gate = Path(run) / "validated" / "gate.json"
        if gate.exists():
            verdicts.append({"run": Path(run).name, **json.loads(gate.read_text())})
    over = [v for v in verdicts if v["failed_share"] > max_share]
    if over:
        raise QuarantineShareExceeded(
            "; ".join(f"run {v['run']}: {v['failed_share']:.0%} of rows failed validation" for v in over)
            + f" (threshold {max_share:.0%}); the rows are in the quarantine table, the rest loaded"
        )
    return verdicts


def load_runs(runs: list[str], *, warehouse: Path, snapshot_max_age_s: float = 0.0) -> dict[str, Any]:
    """Load staged runs, one transaction each (skipping any already loaded), then publish. The one writer.

    The analysts' snapshot is republished when a run changed more than feed status, or when it is older than
    ``snapshot_max_age_s``; the feed state planning reads is published every time."""
    totals: dict[str, Any] = {
        "runs": 0,
        "articles_inserted": 0,
        "articles_updated": 0,
        "items_new": 0,
        "duplicate": 0,
        "failed": 0,
    }
    todo = [Path(r) for r in runs if not (Path(r) / "loaded.json").exists()]
    if not todo:
        return totals
    changed = False
    with Warehouse(warehouse) as wh:
        for folder in todo:
            stats = wh.load_batch(read_run(folder))
            changed |= stats.changed_content
            marker = {"loaded_at": datetime.now(UTC).isoformat(), **asdict(stats)}
            (folder / "loaded.json").write_text(json.dumps(marker))
            totals["runs"] += 1
            for key in ("articles_inserted", "articles_updated", "items_new", "duplicate", "failed"):
                totals[key] += getattr(stats, key)
        totals["snapshot_published"] = wh.publish(changed_content=changed, max_age_s=snapshot_max_age_s)
    return totals


# -- maintenance -----------------------------------------------------------------------------------------


def prune_staging(home: Path, retention_days: float, now: datetime | None = None) -> int:
    """Delete loaded staging runs older than the retention; never a run that is not loaded yet."""
    root = home / "staging"
    if not root.is_dir():
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    removed = 0
    for folder in root.iterdir():
        marker = folder / "loaded.json"
        if marker.exists() and datetime.fromisoformat(json.loads(marker.read_text())["loaded_at"]) < cutoff:
            shutil.rmtree(folder)
            removed += 1
    return removed


def record_feed_health(warehouse: Path, day: date) -> int:
    """Summarise each feed's polls of ``day`` into ``feed_health`` (idempotent per day and feed)."""
    with Warehouse(warehouse) as wh:
        return wh.record_feed_health(day)


def checkpoint(warehouse: Path) -> str:
    """Fold the write-ahead log into the file and republish the snapshot."""
    with Warehouse(warehouse) as wh:
        wh.publish()
        return str(snapshot_path(warehouse))
