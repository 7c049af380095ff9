"""The ingest stages: plan the polls, poll, plan the fetches, fetch and extract, mark the run complete.

Each stage reads and writes the run's staging folder (:mod:`newsflow.run.layout`) and returns something small
(counts, paths), so Airflow runs each as its own task and ``newsflow run`` chains them in one process. Network
stages never open the warehouse; planning reads the published snapshot and feed state, or the writer's own
connection when the caller holds it (``reader``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsflow.articles import DownloadJournal, RawStore, fetch_articles
from newsflow.config import FeedConfig, FeedsFile, Settings
from newsflow.feeds import is_due, poll_feed
from newsflow.models import FeedItem, FeedState, HostPause, ItemOutcome, PollResult, is_not_fetched
from newsflow.net import Fetcher, NetGuard
from newsflow.run.layout import RunFolder, batch_journal, pending_runs
from newsflow.run.parquet import from_record, read_records, to_record, write_records
from newsflow.urls import host_of
from newsflow.warehouse import (
    Plan,
    Warehouse,
    active_pauses,
    defer_paused,
    open_feed_state,
    open_for_reading,
)
from newsflow.workers import WorkerPool

LOGGER = logging.getLogger(__name__)


def make_fetcher(config: FeedsFile) -> Fetcher:
    return Fetcher(config.settings, NetGuard(config.allow_hosts))


def deterministic_poll_id(run_id: str, feed: str) -> str:
    """Re-running a poll task in the same run gives the same poll id, so the load counts it once."""
    return hashlib.sha256(f"{run_id}\x1f{feed}".encode()).hexdigest()[:32]


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


def staged_pauses(folder: Path) -> list[HostPause]:
    """The pauses hosts asked for during a run's tasks so far."""
    return [p for f in RunFolder(folder).pause_files() for p in read_records(f, HostPause)]


def _stage_pauses(run: RunFolder, task: str, pauses: Sequence[HostPause]) -> None:
    """Stage the pauses hosts asked for during a task, with those its earlier attempts staged."""
    path = run.pause_file(task)
    earlier = read_records(path, HostPause) if path.exists() else []
    merged = active_pauses([*earlier, *pauses], datetime.min.replace(tzinfo=UTC))
    if merged:
        write_records(path, HostPause, sorted(merged.values(), key=lambda p: p.host))


def _pending_pauses(home: Path, but: Path | None = None) -> list[HostPause]:
    """Pauses staged by runs still to be loaded (the feed state does not know them yet)."""
    return [p for run in pending_runs(home) if run != but for p in staged_pauses(run)]


# -- polls ----------------------------------------------------------------------------------------------


def plan_polls(
    config: FeedsFile,
    warehouse: Path,
    *,
    feed_names: list[str] | None = None,
    force: bool = False,
    now: datetime | None = None,
    home: Path | None = None,
    reader: Warehouse | None = None,
) -> list[dict[str, Any]]:
    """The feeds due now, each with its stored state and the host pauses still on (small dicts, fit for
    XCom). Pauses are those of the feed state (or of ``reader``) and, with ``home``, of the runs still to be
    loaded."""
    now = now or datetime.now(UTC)
    pauses = _pending_pauses(home) if home else []
    states: dict[str, FeedState] = {}
    if reader is not None:
        states, pauses = reader.feed_states(), [*pauses, *reader.host_pauses()]
    elif (
        state := open_feed_state(warehouse)
    ) is not None:  # newer than the snapshot after a status-only load
        with state:
            states, pauses = state.feed_states(), [*pauses, *state.host_pauses()]
    due = select_due(config.selected(feed_names), states, now, force or bool(feed_names), pauses)
    on = [to_record(p) for p in active_pauses(pauses, now).values()]
    return [
        {"feed": f.name, "state": to_record(states.get(f.name, FeedState(f.name))), "pauses": on} for f in due
    ]


def poll_feeds(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    fetcher: Fetcher,
    settings: Settings,
    *,
    max_items: int | None = None,
    now: datetime | None = None,
    poll_ids: dict[str, str] | None = None,
) -> list[PollResult]:
    """Poll feeds concurrently (the fetcher keeps per-host politeness); one broken feed never stops the
    others."""
    if not feeds:
        return []

    def one(feed: FeedConfig) -> PollResult:
        state = states.get(feed.name, FeedState(feed.name))
        poll_id = (poll_ids or {}).get(feed.name)
        return poll_feed(feed, state, fetcher, settings, max_items=max_items, now=now, poll_id=poll_id)

    with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(feeds))) as pool:
        return list(pool.map(one, feeds))


def poll_group(
    config: FeedsFile,
    specs: Sequence[dict[str, Any]],
    *,
    run_id: str,
    home: Path,
    group: str,
    max_items: int | None = None,
    fetcher: Fetcher | None = None,
    now: datetime | None = None,
) -> list[PollResult]:
    """Poll the feeds of ``specs`` (from :func:`plan_polls`) and stage their results as ``group``.

    A re-run of the group rewrites the same file with the same poll ids. ``fetcher``: the caller's, kept
    open (a one-process cycle shares it with the fetch stage, so one fetcher keeps each host's pace)."""
    run = RunFolder.of(home, run_id)
    by_name = {f.name: f for f in config.feeds}
    feeds = [by_name[s["feed"]] for s in specs]
    states = {s["feed"]: from_record(FeedState, s["state"]) for s in specs}
    own = make_fetcher(config) if fetcher is None else None
    active = fetcher or own
    assert active is not None
    try:
        active.honour((from_record(HostPause, p) for s in specs for p in s.get("pauses", ())), now)
        active.honour(staged_pauses(run.path), now)  # found by this run so far (a retried task)
        ids = {f.name: deterministic_poll_id(run_id, f.name) for f in feeds}
        results = poll_feeds(
            feeds, states, active, config.settings, max_items=max_items, now=now, poll_ids=ids
        )
        _stage_pauses(run, f"poll-{group}", active.pauses())
    finally:
        if own is not None:
            own.close()
    write_records(run.poll_file(group), PollResult, results)
    return results


def _pack(sizes: dict[str, int], target: int, most: int) -> list[list[str]]:
    """Keys (hosts) packed into groups: a key of ``target`` or more alone, smaller ones sharing groups of up
    to ``target``; when that makes more than ``most`` groups, ``most`` groups of loads as even as the keys
    allow instead. A key is never split."""
    groups: list[list[str]] = []
    shared: list[str] = []
    load = 0
    for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
        if sizes[key] >= target:
            groups.append([key])
            continue
        if shared and load + sizes[key] > target:
            groups.append(shared)
            shared, load = [], 0
        shared.append(key)
        load += sizes[key]
    if shared:
        groups.append(shared)
    if len(groups) > most:  # too many: the largest keys first, each into the least loaded of ``most``
        bins: list[list[str]] = [[] for _ in range(most)]
        loads = [0] * most
        for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
            n = loads.index(min(loads))
            bins[n].append(key)
            loads[n] += sizes[key]
        groups = [b for b in bins if b]
    return sorted(groups, key=lambda g: (-sum(sizes[k] for k in g), g))


def poll_groups(config: FeedsFile, specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The due feeds (``specs`` from :func:`plan_polls`) in groups, one poll task each: a host's feeds in one
    group, so its politeness holds inside one task; small hosts share groups of about ``poll_group_size``
    feeds; at most ``max_poll_groups`` groups, whatever the number of feeds. Each group has a name for its
    staging file (``g000``, ...) and a label for the Airflow grid (its hosts and feed count)."""
    settings = config.settings
    url = {f.name: f.url for f in config.feeds}
    by_host: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        by_host.setdefault(host_of(url[spec["feed"]]), []).append(spec)
    if not by_host:
        return []
    target = max(settings.poll_group_size, -(-len(specs) // settings.max_poll_groups))
    packed = _pack({h: len(v) for h, v in by_host.items()}, target, settings.max_poll_groups)
    groups = []
    for n, hosts in enumerate(packed):
        members = [s for h in hosts for s in by_host[h]]
        more = f" +{len(hosts) - 1} hosts" if len(hosts) > 1 else ""
        feeds = f"{len(members)} feed{'s' if len(members) != 1 else ''}"
        groups.append({"group": f"g{n:03d}", "label": f"{hosts[0]}{more} ({feeds})", "specs": members})
    return groups


def poll_group_stage(
    config: FeedsFile, group: dict[str, Any], *, run_id: str, home: Path, max_items: int | None = None
) -> dict[str, Any]:
    """Poll one group of :func:`poll_groups` concurrently and stage the results; returns its counts (the
    per-feed results are in the staged file, then in ``feed_polls``)."""
    results = poll_group(
        config, group["specs"], run_id=run_id, home=home, group=group["group"], max_items=max_items
    )
    return {
        "group": group["group"],
        "label": group["label"],
        "feeds": len(results),
        "failed": sum(1 for r in results if r.failed),
        "not_modified": sum(1 for r in results if r.status in ("not_modified", "unchanged")),
        "items": sum(len(r.items) for r in results),
        "path": str(RunFolder.of(home, run_id).poll_file(group["group"])),
    }


def poll_stage(
    config: FeedsFile, spec: dict[str, Any], *, run_id: str, home: Path, max_items: int | None = None
) -> dict[str, Any]:
    """Poll one feed and stage the result; returns counts and the staged path."""
    name = spec["feed"]
    [result] = poll_group(config, [spec], run_id=run_id, home=home, group=name, max_items=max_items)
    return {
        "feed": name,
        "status": result.status,
        "items": len(result.items),
        "error": result.error,
        "path": str(RunFolder.of(home, run_id).poll_file(name)),
    }


def staged_polls(run: RunFolder) -> list[PollResult]:
    return [p for f in run.poll_files() for p in read_records(f, PollResult)]


# -- fetch plan ------------------------------------------------------------------------------------------


def host_batches(items: Sequence[FeedItem], size: int, most: int | None = None) -> list[list[FeedItem]]:
    """Fetch batches that keep each host's items together, largest hosts first.

    A fetcher enforces the per-host politeness (minimum delay, requests in flight, ``Retry-After`` pauses)
    for its own requests only, and each fetch task has its own: with a host in one batch, parallel tasks never
    fetch from the same host. A host with ``size`` items or more gets a batch of its own, whatever its length;
    smaller hosts share batches of up to ``size`` items. With ``most``, there are at most that many batches:
    the batches grow, their loads as even as whole hosts allow, rather than outnumber it.
    """
    by_host: dict[str, list[FeedItem]] = {}
    for item in items:
        by_host.setdefault(host_of(item.link), []).append(item)
    if not by_host:
        return []
    most = most or len(items)
    size = max(size, -(-len(items) // most))
    packed = _pack({h: len(v) for h, v in by_host.items()}, size, most)
    return [[i for h in hosts for i in by_host[h]] for hosts in packed]


def plan_stage(
    config: FeedsFile,
    *,
    run_id: str,
    home: Path,
    warehouse: Path,
    batch_size: int | None = 25,
    reader: Warehouse | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Decide what to fetch and stage it in batches (one batch with ``batch_size=None``); returns the batch
    paths. Plans against the published snapshot, or against ``reader`` (the writer's connection)."""
    now = now or datetime.now(UTC)
    run = RunFolder.of(home, run_id)
    polls = staged_polls(run)
    in_flight = {  # fetched by earlier runs that wait for their load: the snapshot does not know them yet
        item.item_id: item.entry_hash
        for pending in pending_runs(home)
        if pending != run.path
        for batch in RunFolder(pending).batch_files()
        for item in read_records(batch, FeedItem)
    }
    # Pauses asked for in this run's polls, in runs still to be loaded, and stored by loads (the feed state
    # has them all, the snapshot those it had when last published). Not those of this run's own fetch
    # tasks: a re-run of this task must plan the same batches.
    pauses = [p for f in run.pause_files("poll-") for p in read_records(f, HostPause)]
    pauses += _pending_pauses(home, but=run.path)
    if reader is None and (state := open_feed_state(warehouse)) is not None:
        with state:
            pauses += state.host_pauses()
    plan = _plan(config, polls, in_flight, pauses, warehouse, reader, now)
    write_records(run.outcome_file("duplicates"), ItemOutcome, plan.duplicates)
    write_records(run.outcome_file("paused"), ItemOutcome, plan.paused)
    run.fetch_dir.mkdir(parents=True, exist_ok=True)
    run.attempts_file.write_text(json.dumps(plan.attempts))
    run.plan_file.write_text(
        json.dumps(
            {
                "to_fetch": len(plan.to_fetch),
                "duplicates": len(plan.duplicates),
                "paused": len(plan.paused),
                "known_unchanged": plan.known_unchanged,
            }
        )
    )
    write_records(run.fetch_pauses_file, HostPause, pauses)  # for the fetch tasks to honour
    size = batch_size or len(plan.to_fetch) + 1
    chunks = host_batches(plan.to_fetch, size, config.settings.max_fetch_batches if batch_size else None)
    paths = [str(write_records(run.batch_file(n), FeedItem, chunk)) for n, chunk in enumerate(chunks)]
    # A re-run that plans fewer batches (the snapshot changed meanwhile) leaves no stale batch behind: its
    # items, and its outcomes, would be staged twice. (Pauses its fetch task met stay: they are the hosts'.)
    for stale in set(run.batch_files()) - {Path(p) for p in paths}:
        stale.unlink(missing_ok=True)
        run.outcome_file(stale).unlink(missing_ok=True)
        DownloadJournal(batch_journal(stale)).clear()
    return paths


def _plan(
    config: FeedsFile,
    polls: list[PollResult],
    in_flight: dict[str, str],
    pauses: list[HostPause],
    warehouse: Path,
    reader: Warehouse | None,
    now: datetime,
) -> Plan:
    """The plan against ``reader``, else the snapshot; with neither (no load yet), every new item. The
    stored pauses join ``pauses`` (the fetch tasks honour them)."""
    attempts = config.settings.max_item_attempts
    if reader is not None:
        plan = reader.plan(polls, attempts, in_flight, pauses=pauses, now=now)
        pauses += reader.host_pauses()
        return plan
    wh = open_for_reading(warehouse)
    if wh is None:
        items = [i for p in polls for i in p.items if in_flight.get(i.item_id) != i.entry_hash]
        return defer_paused(Plan(to_fetch=items), pauses, now)
    with wh:
        plan = wh.plan(polls, attempts, in_flight, pauses=pauses, now=now)
        pauses += wh.host_pauses()
    return plan


def planned(home: Path, run_id: str) -> dict[str, int]:
    """The counts :func:`plan_stage` staged: to_fetch, duplicates, paused, known_unchanged."""
    return dict(json.loads(RunFolder.of(home, run_id).plan_file.read_text()))


# -- fetch -----------------------------------------------------------------------------------------------


def fetch_stage(
    config: FeedsFile,
    batch_path: str,
    *,
    home: Path,
    fetcher: Fetcher | None = None,
    pool: WorkerPool | None = None,
    journal: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Fetch and extract one staged batch; stage the outcomes beside the run's other outputs.

    ``fetcher`` and ``pool``: the caller's, kept open. ``journal=False`` keeps no downloads for a retry (a
    one-process cycle has no task retry)."""
    batch = Path(batch_path)
    run = RunFolder(batch.parent.parent)
    items = read_records(batch, FeedItem)
    attempts = json.loads(run.attempts_file.read_text())
    kept = DownloadJournal(batch_journal(batch)) if journal else None  # what an earlier try downloaded
    if kept is not None and (n := len(kept)):
        LOGGER.info("%s: %d downloads kept by an earlier try are not made again", batch.stem, n)
    own = make_fetcher(config) if fetcher is None else None
    active = fetcher or own
    assert active is not None
    try:
        pauses = run.fetch_pauses_file  # none in a run planned by an older newsflow
        active.honour(read_records(pauses, HostPause) if pauses.exists() else [], now)  # a redirect to one
        active.honour(staged_pauses(run.path), now)  # found by this run so far (a retried task)
        try:
            outcomes = fetch_articles(
                items, active, config.settings, RawStore(home), attempts=attempts, pool=pool, journal=kept
            )
        finally:  # a task that fails or times out still passes its pauses on to its retry
            _stage_pauses(run, batch.stem, active.pauses())
    finally:
        if own is not None:
            own.close()
    out = write_records(run.outcome_file(batch), ItemOutcome, outcomes)
    if kept is not None:
        kept.clear()  # the outcomes are staged and the raw store holds the pages
    return {
        "path": str(out),
        "loaded": sum(o.status == "loaded" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "not_fetched": sum(is_not_fetched(o) for o in outcomes),
    }


def finish_ingest(*, run_id: str, home: Path) -> dict[str, Any]:
    """Write the run's manifest (the run is now complete and loadable); returns its counts."""
    run = RunFolder.of(home, run_id)
    polls = staged_polls(run)
    outcomes = [o for f in run.outcome_files() for o in read_records(f, ItemOutcome)]
    manifest = {
        "run_id": run_id,
        "staged_at": datetime.now(UTC).isoformat(),
        "folder": str(run.path),
        "feeds_polled": len(polls),
        "feeds_failed": sum(p.failed for p in polls),
        "items_seen": sum(len(p.items) for p in polls),
        "articles_staged": sum(o.status == "loaded" for o in outcomes),
        "duplicates": sum(o.status == "duplicate" for o in outcomes),
        "failed": sum(o.status == "failed" for o in outcomes),
        "not_fetched": sum(is_not_fetched(o) for o in outcomes),  # among the failed: for the next run
    }
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_manifest(manifest)
    return manifest
