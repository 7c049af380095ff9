"""Planning reads: the feed state and host pauses, and which polled items to fetch (new ones, corrections,
retries), decided from the item ledger and the retry bookkeeping of the file at hand (often a snapshot)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from newsflow.models import NOT_FETCHED, FeedItem, FeedState, HostPause, ItemOutcome, PollResult
from newsflow.urls import host_of
from newsflow.warehouse.db import has, records


@dataclass
class Plan:
    """Which polled items need fetching, and what the ledger already knew."""

    to_fetch: list[FeedItem] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    duplicates: list[ItemOutcome] = field(default_factory=list)
    paused: list[ItemOutcome] = field(default_factory=list)
    """Items of hosts that asked for a pause still on: recorded "not fetched", for a later run."""
    known_unchanged: int = 0


@dataclass(frozen=True)
class _LedgerEntry:
    """What the ledger knows of a polled item."""

    item_id: str
    entry_hash: str
    status: str
    attempts: int
    retryable: bool


@dataclass(frozen=True)
class _HeldEdit:
    """An edited entry (a FeedItem as JSON) waiting for its refetch, and the entry hash the ledger has."""

    entry: str
    entry_hash: str


def _retry(attempts: int, **item: Any) -> tuple[FeedItem, int]:
    return FeedItem(**item), attempts


def feed_states(con: duckdb.DuckDBPyConnection) -> dict[str, FeedState]:
    """Each known feed's stored state, by name."""
    cur = con.execute(
        "SELECT name, etag, last_modified, body_hash, consecutive_failures, poll_interval_min, "
        "next_poll_at, last_new_item_at FROM feeds"
    )
    return {s.name: s for s in records(cur, FeedState)}


def host_pauses(con: duckdb.DuckDBPyConnection) -> list[HostPause]:
    """The stored pauses hosts asked for (none in a snapshot from before them)."""
    if not has(con, "host_pauses"):
        return []
    return records(con.execute("SELECT host, until, reason FROM host_pauses ORDER BY host"), HostPause)


def active_pauses(pauses: Iterable[HostPause], now: datetime) -> dict[str, HostPause]:
    """The pauses still on at ``now``, per host (the latest end wins)."""
    active: dict[str, HostPause] = {}
    for pause in pauses:
        if pause.until > now and (pause.host not in active or active[pause.host].until < pause.until):
            active[pause.host] = pause
    return active


def defer_paused(plan: Plan, pauses: Sequence[HostPause], now: datetime) -> Plan:
    """Move the items of hosts whose pause is still on at ``now`` from ``to_fetch`` to ``paused``: recorded as
    failed for a later run ("not fetched"), with the attempts they had."""
    active = active_pauses(pauses, now)
    if not active:
        return plan
    keep: list[FeedItem] = []
    for item in plan.to_fetch:
        on = active.get(host_of(item.link))
        if on is None:
            keep.append(item)
            continue
        until = on.until.astimezone(UTC)
        reason = (
            f"{NOT_FETCHED}host {on.host} asked for a pause until {until:%Y-%m-%d %H:%M:%S} UTC "
            f"({on.reason}); a run after that fetches it"
        )
        attempts = plan.attempts.pop(item.item_id, 1) - 1
        plan.paused.append(
            ItemOutcome(item=item, status="failed", reason=reason, retryable=True, attempts=attempts)
        )
    plan.to_fetch = keep
    return plan


def plan(
    con: duckdb.DuckDBPyConnection,
    polls: Sequence[PollResult],
    max_attempts: int,
    in_flight: Mapping[str, str],
    pauses: Sequence[HostPause],
    now: datetime,
) -> Plan:
    """Decide which items to fetch: new ones, edited ones (corrections) and retryable failures.

    A retryable failure is retried when its feed polls successfully again, whether or not the feed lists
    it this time: a feed that answers ``304`` or the same body lists nothing, and one that moved on no
    longer lists the item. Its ledger entry is fetched then, with the entry's own text kept for it in
    ``retry_entries``, up to ``max_attempts`` attempts in all. Items ``in_flight`` (item id: entry hash,
    fetched by an earlier run whose load is still to come) are left to that run, unless the entry was
    edited since. In ``to_fetch`` the new items come after the retries and corrections.

    Items of a host that asked for a pause (``host_pauses``, and ``pauses`` recorded by this run's polls
    or by runs still to be loaded) still on at ``now`` are not fetched: they go to ``paused``, recorded as
    failed for a later run, with the attempts they had.
    """
    planned = _plan_items(con, polls, max_attempts, in_flight)
    return defer_paused(planned, [*host_pauses(con), *pauses], now)


def _plan_items(
    con: duckdb.DuckDBPyConnection,
    polls: Sequence[PollResult],
    max_attempts: int,
    in_flight: Mapping[str, str],
) -> Plan:
    planned = Plan()
    items: dict[str, FeedItem] = {}
    for poll in polls:
        for item in poll.items:
            if in_flight.get(item.item_id) == item.entry_hash:
                planned.known_unchanged += 1
            else:
                items.setdefault(item.item_id, item)
    reachable = sorted({p.feed for p in polls if not p.failed})
    for item, attempts in _pending_retries(con, reachable, set(items) | set(in_flight), max_attempts):
        planned.to_fetch.append(item)
        planned.attempts[item.item_id] = attempts + 1
    for item in _held_corrections(con, reachable, set(items) | set(in_flight)):
        planned.to_fetch.append(item)  # a correction: its attempts are not counted
        planned.attempts[item.item_id] = 1
    if not items:
        return planned
    cur = con.execute(
        "SELECT item_id, entry_hash, status, attempts, retryable FROM items "
        "WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(items)],
    )
    known = {e.item_id: e for e in records(cur, _LedgerEntry)}
    urls = [i.canonical_url for i in items.values() if i.canonical_url and i.item_id not in known]
    owners = (
        dict(
            con.execute(
                "SELECT u, article_id FROM (SELECT canonical_url AS u, article_id FROM articles "
                "UNION ALL SELECT url, article_id FROM articles) "
                "WHERE u IN (SELECT unnest(?::VARCHAR[]))",
                [urls],
            ).fetchall()
        )
        if urls
        else {}
    )
    # New items go last: an item left by a run whose fetch budget ran out is a retry, and goes before
    # them, so a host's long backlog still moves.
    fresh: list[FeedItem] = []
    for item_id, item in items.items():
        if item_id in known:
            entry = known[item_id]
            if entry.entry_hash != item.entry_hash and entry.status != "duplicate":
                planned.to_fetch.append(item)  # the entry was edited: refetch (a correction)
                planned.attempts[item_id] = 1
            elif entry.status == "failed" and entry.retryable and entry.attempts < max_attempts:
                planned.to_fetch.append(item)
                planned.attempts[item_id] = entry.attempts + 1
            else:
                planned.known_unchanged += 1
        elif item.canonical_url in owners:
            planned.duplicates.append(
                ItemOutcome(
                    item=item,
                    status="duplicate",
                    article_id=owners[item.canonical_url],
                    reason=f"URL already loaded as article {owners[item.canonical_url]}",
                )
            )
        else:
            fresh.append(item)
    planned.to_fetch += fresh
    return planned


def _pending_retries(
    con: duckdb.DuckDBPyConnection, feeds: Sequence[str], listed: set[str], max_attempts: int
) -> list[tuple[FeedItem, int]]:
    """Retryable failed items of ``feeds`` that this poll did not list, with their attempts so far."""
    if not feeds:
        return []
    # A snapshot from before retry_entries: plan without the entries' own text.
    texts = (
        "retry_entries"
        if has(con, "retry_entries")
        else "(SELECT NULL::VARCHAR AS item_id, NULL::VARCHAR AS summary, NULL::VARCHAR AS content, "
        "NULL::VARCHAR AS author, NULL::VARCHAR AS language)"
    )
    cur = con.execute(
        "SELECT i.item_id, feed, guid, link, canonical_url, title, summary, content, author, "
        "published_at, entry_hash, language, attempts "
        f"FROM items i LEFT JOIN {texts} e USING (item_id) "
        "WHERE status = 'failed' AND retryable AND attempts < ? "
        "AND feed IN (SELECT unnest(?::VARCHAR[])) ORDER BY status_at, i.item_id",
        [max_attempts, list(feeds)],
    )
    return [(item, attempts) for item, attempts in records(cur, _retry) if item.item_id not in listed]


def _held_corrections(
    con: duckdb.DuckDBPyConnection, feeds: Sequence[str], listed: set[str]
) -> list[FeedItem]:
    """Edited entries of loaded articles whose refetch an earlier run left for later, of ``feeds``, that
    this poll did not list (a listed one is planned as a correction anyway)."""
    if not feeds or not has(con, "host_pauses"):  # retry_entries.entry came with the host_pauses migration
        return []
    cur = con.execute(
        "SELECT e.entry, i.entry_hash FROM retry_entries e JOIN items i USING (item_id) "
        "WHERE e.entry IS NOT NULL AND i.status = 'loaded' AND i.feed IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY i.status_at, i.item_id",
        [list(feeds)],
    )
    held = []
    for edit in records(cur, _HeldEdit):
        record = json.loads(edit.entry)
        if record["published_at"]:
            record["published_at"] = datetime.fromisoformat(record["published_at"])
        item = FeedItem(**record)
        if item.item_id not in listed and item.entry_hash != edit.entry_hash:
            held.append(item)
    return held
