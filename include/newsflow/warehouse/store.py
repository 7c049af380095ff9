"""The DuckDB warehouse: numbered migrations, feed state, the item ledger and idempotent, atomic loads.

Only :meth:`Warehouse.load_batch` writes pipeline data, in one transaction: loading the same batch twice
changes nothing, a corrected article updates its row (``version`` + 1), a failed load leaves nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from newsflow.models import (
    NOT_FETCHED,
    Batch,
    FeedItem,
    FeedState,
    HostPause,
    ItemOutcome,
    PollResult,
    TopicRow,
    is_not_fetched,
)
from newsflow.urls import host_of
from newsflow.warehouse.staged_tables import (
    ARTICLE_COLUMNS,
    ITEM_COLUMNS,
    PAUSE_COLUMNS,
    POLL_COLUMNS,
    QUARANTINE_COLUMNS,
    RETRY_COLUMNS,
    TOPIC_COLUMNS,
    VALIDATION_COLUMNS,
    staged_table,
)

LOGGER = logging.getLogger(__name__)
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")
RETRY_ENTRIES_SCHEMA = 4
"""The schema version that added ``retry_entries`` (a published snapshot may be older)."""
HOST_PAUSES_SCHEMA = 5
"""The schema version that added ``host_pauses``."""


class WarehouseError(RuntimeError):
    """The warehouse is missing, locked for too long or inconsistent."""


def snapshot_path(warehouse: Path) -> Path:
    """Where the read-only snapshot of ``warehouse`` is published (beside it)."""
    return warehouse.with_name(f"{warehouse.stem}.published{warehouse.suffix}")


def state_path(warehouse: Path) -> Path:
    """Where the feed state (``feeds``, ``host_pauses``) is published after every load, beside the warehouse:
    planning reads it, so a load that changed nothing else need not republish the whole snapshot."""
    return warehouse.with_name(f"{warehouse.stem}.state{warehouse.suffix}")


def open_feed_state(warehouse: Path) -> Warehouse | None:
    """A read-only view holding the newest published feed state: the state file, unless the snapshot is
    newer (an older newsflow published no state file); None before the first load."""
    state, snapshot = state_path(warehouse), snapshot_path(warehouse)
    if state.exists() and (not snapshot.exists() or state.stat().st_mtime_ns >= snapshot.stat().st_mtime_ns):
        return Warehouse(state, read_only=True)
    return open_for_reading(warehouse)


def open_for_reading(warehouse: Path, *, live: bool = False) -> Warehouse | None:
    """A read-only view: the published snapshot (``live``: the file itself); None if neither exists."""
    for candidate in [warehouse] if live else [snapshot_path(warehouse), warehouse]:
        if candidate.exists():
            return Warehouse(candidate, read_only=True)
    return None


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every packaged migration, in order."""
    found = []
    for entry in resources.files("newsflow").joinpath("warehouse/migrations").iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def connect(
    path: Path, *, read_only: bool = False, lock_timeout_s: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying with backoff while another process holds the lock."""
    delay = 0.05
    deadline = time.monotonic() + lock_timeout_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not any(m in str(exc) for m in _LOCK_MARKERS) or time.monotonic() > deadline:
                raise WarehouseError(f"{path}: cannot open ({exc})") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


@dataclass
class Plan:
    """Which polled items need fetching, and what the ledger already knew."""

    to_fetch: list[FeedItem] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    duplicates: list[ItemOutcome] = field(default_factory=list)
    paused: list[ItemOutcome] = field(default_factory=list)
    """Items of hosts that asked for a pause still on: recorded "not fetched", for a later run."""
    known_unchanged: int = 0


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


@dataclass
class LoadStats:
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


_CHANGED_ARTICLE = " OR ".join(
    f"t.{c} IS DISTINCT FROM s.{c}"
    for c in ("title", "author", "site_name", "published_at", "language", "body_hash", "body_source", "url")
)
_CHANGED_ITEM = " OR ".join(
    f"t.{c} IS DISTINCT FROM s.{c}"
    for c in ("status", "reason", "article_id", "attempts", "retryable", "entry_hash", "title", "link")
)


def _replace_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``target``, flush it to disk, then rename it over ``target``."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Warehouse:
    """A DuckDB warehouse file. Use as a context manager; open read-only for queries."""

    def __init__(self, path: str | Path, *, read_only: bool = False, lock_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise WarehouseError(f"{self.path}: no warehouse yet (run `newsflow run` first)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect(self.path, read_only=read_only, lock_timeout_s=lock_timeout_s)
        if not read_only:
            self.migrate()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchone()
        if not exists or not exists[0]:
            return 0
        row = self.con.execute("SELECT COALESCE(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> list[int]:
        """Apply every migration not yet recorded, in order, each in its own transaction; returns them."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, datetime.now(UTC)]
                )
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            applied.append(version)
            LOGGER.info("warehouse %s: applied migration %04d_%s", self.path, version, name)
        return applied

    # -- reads used by the stages --------------------------------------------------------------------
    def feed_states(self) -> dict[str, FeedState]:
        rows = self.con.execute(
            "SELECT name, etag, last_modified, body_hash, consecutive_failures, poll_interval_min, "
            "next_poll_at, last_new_item_at FROM feeds"
        ).fetchall()
        return {r[0]: FeedState(*r) for r in rows}

    def plan(
        self,
        polls: Sequence[PollResult],
        max_attempts: int,
        in_flight: Mapping[str, str] | None = None,
        *,
        pauses: Sequence[HostPause] = (),
        now: datetime | None = None,
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
        plan = self._plan(polls, max_attempts, in_flight or {})
        return defer_paused(plan, [*self.host_pauses(), *pauses], now or datetime.now(UTC))

    def host_pauses(self) -> list[HostPause]:
        """The stored pauses hosts asked for (none in a snapshot older than schema 5)."""
        if self.schema_version() < HOST_PAUSES_SCHEMA:
            return []
        rows = self.con.execute("SELECT host, until, reason FROM host_pauses ORDER BY host").fetchall()
        return [HostPause(*r) for r in rows]

    def _plan(self, polls: Sequence[PollResult], max_attempts: int, in_flight: Mapping[str, str]) -> Plan:
        plan = Plan()
        items: dict[str, FeedItem] = {}
        for poll in polls:
            for item in poll.items:
                if in_flight.get(item.item_id) == item.entry_hash:
                    plan.known_unchanged += 1
                else:
                    items.setdefault(item.item_id, item)
        reachable = sorted({p.feed for p in polls if not p.failed})
        for item, attempts in self._pending_retries(reachable, set(items) | set(in_flight), max_attempts):
            plan.to_fetch.append(item)
            plan.attempts[item.item_id] = attempts + 1
        for item in self._held_corrections(reachable, set(items) | set(in_flight)):
            plan.to_fetch.append(item)  # a correction: its attempts are not counted
            plan.attempts[item.item_id] = 1
        if not items:
            return plan
        known = {
            r[0]: r[1:]
            for r in self.con.execute(
                "SELECT item_id, entry_hash, status, attempts, retryable FROM items "
                "WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
                [list(items)],
            ).fetchall()
        }
        urls = [i.canonical_url for i in items.values() if i.canonical_url and i.item_id not in known]
        owners = (
            {
                r[0]: r[1]
                for r in self.con.execute(
                    "SELECT u, article_id FROM (SELECT canonical_url AS u, article_id FROM articles "
                    "UNION ALL SELECT url, article_id FROM articles) "
                    "WHERE u IN (SELECT unnest(?::VARCHAR[]))",
                    [urls],
                ).fetchall()
            }
            if urls
            else {}
        )
        # New items go last: an item left by a run whose fetch budget ran out is a retry, and goes before
        # them, so a host's long backlog still moves.
        fresh: list[FeedItem] = []
        for item_id, item in items.items():
            if item_id in known:
                entry_hash, status, attempts, retryable = known[item_id]
                if entry_hash != item.entry_hash and status != "duplicate":
                    plan.to_fetch.append(item)  # the entry was edited: refetch (a correction)
                    plan.attempts[item_id] = 1
                elif status == "failed" and retryable and attempts < max_attempts:
                    plan.to_fetch.append(item)
                    plan.attempts[item_id] = attempts + 1
                else:
                    plan.known_unchanged += 1
            elif item.canonical_url in owners:
                plan.duplicates.append(
                    ItemOutcome(
                        item=item,
                        status="duplicate",
                        article_id=owners[item.canonical_url],
                        reason=f"URL already loaded as article {owners[item.canonical_url]}",
                    )
                )
            else:
                fresh.append(item)
        plan.to_fetch += fresh
        return plan

    def _pending_retries(
        self, feeds: Sequence[str], listed: set[str], max_attempts: int
    ) -> list[tuple[FeedItem, int]]:
        """Retryable failed items of ``feeds`` that this poll did not list, with their attempts so far."""
        if not feeds:
            return []
        # A snapshot published before the upgrade to schema 4 has no retry_entries yet: plan without the text.
        texts = (
            "retry_entries"
            if self.schema_version() >= RETRY_ENTRIES_SCHEMA
            else "(SELECT NULL::VARCHAR AS item_id, NULL::VARCHAR AS summary, NULL::VARCHAR AS content, "
            "NULL::VARCHAR AS author, NULL::VARCHAR AS language)"
        )
        rows = self.con.execute(
            "SELECT i.item_id, feed, guid, link, canonical_url, title, summary, content, author, "
            "published_at, entry_hash, language, attempts "
            f"FROM items i LEFT JOIN {texts} e USING (item_id) "
            "WHERE status = 'failed' AND retryable AND attempts < ? "
            "AND feed IN (SELECT unnest(?::VARCHAR[])) ORDER BY status_at, i.item_id",
            [max_attempts, list(feeds)],
        ).fetchall()
        return [(FeedItem(*r[:-1]), r[-1]) for r in rows if r[0] not in listed]

    def _keep_retry_entries(self, outcomes: Sequence[ItemOutcome], polls: Sequence[PollResult]) -> int:
        """Keep the entry's own text of items waiting for a retry (the ledger has them failed and retryable),
        and the whole edited entry of a loaded article whose refetch was left for later ("not fetched");
        drop it for the others of the batch (loaded, duplicate, given up, or kept loaded when a tried refetch
        failed), and drop a held edit once a poll lists the entry as the article has it (the edit was
        reverted, or a newer version is already loaded)."""
        waiting = [o for o in outcomes if o.status == "failed" and o.retryable]
        held = self._edits_held(waiting)
        changed = 0  # rows written or dropped
        if waiting:
            rows = {  # one row per item, the last of the batch winning (as one upsert after another would)
                o.item.item_id: {
                    "item_id": o.item.item_id,
                    "summary": o.item.summary,
                    "content": o.item.content,
                    "author": o.item.author,
                    "language": o.item.language,
                    "entry": json.dumps(dataclasses.asdict(o.item), default=str)
                    if o.item.item_id in held
                    else None,
                }
                for o in waiting
            }
            with self._staged("staged_retry", RETRY_COLUMNS, rows.values()):
                self.con.execute(
                    "DELETE FROM retry_entries WHERE item_id IN (SELECT item_id FROM staged_retry)"
                )
                changed += self._count("INSERT INTO retry_entries BY NAME SELECT * FROM staged_retry")
        if outcomes:
            changed += self._count(
                "DELETE FROM retry_entries WHERE item_id IN (SELECT unnest(?::VARCHAR[])) AND item_id NOT IN "
                "(SELECT item_id FROM items WHERE status = 'failed' AND retryable) "
                "AND item_id NOT IN (SELECT unnest(?::VARCHAR[]))",
                [[o.item.item_id for o in outcomes], sorted(held)],
            )
        listed = [(i.item_id, i.entry_hash) for p in polls for i in p.items]
        if listed and self._any_edit_held():
            changed += self._count(
                "DELETE FROM retry_entries WHERE entry IS NOT NULL AND item_id IN ("
                "SELECT i.item_id FROM items i JOIN "
                "(SELECT unnest(?::VARCHAR[]) AS item_id, unnest(?::VARCHAR[]) AS entry_hash) l "
                "ON l.item_id = i.item_id AND l.entry_hash = i.entry_hash)",
                [[x[0] for x in listed], [x[1] for x in listed]],
            )
        return changed

    def _any_edit_held(self) -> bool:
        (row,) = self.con.execute("SELECT count(*) > 0 FROM retry_entries WHERE entry IS NOT NULL").fetchall()
        return bool(row[0])

    def _edits_held(self, waiting: Sequence[ItemOutcome]) -> set[str]:
        """Items of ``waiting`` left "not fetched" whose ledger row (already updated) is a loaded article with
        another entry hash: an edit whose refetch waits."""
        left = {o.item.item_id: o.item.entry_hash for o in waiting if is_not_fetched(o)}
        if not left:
            return set()
        rows = self.con.execute(
            "SELECT item_id, entry_hash FROM items WHERE status = 'loaded' "
            "AND item_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(left)],
        ).fetchall()
        return {item_id for item_id, stored in rows if stored != left[item_id]}

    def _held_corrections(self, feeds: Sequence[str], listed: set[str]) -> list[FeedItem]:
        """Edited entries of loaded articles whose refetch an earlier run left for later, of ``feeds``, that
        this poll did not list (a listed one is planned as a correction anyway)."""
        if not feeds or self.schema_version() < HOST_PAUSES_SCHEMA:
            return []
        rows = self.con.execute(
            "SELECT e.entry, i.entry_hash FROM retry_entries e JOIN items i USING (item_id) "
            "WHERE e.entry IS NOT NULL AND i.status = 'loaded' AND i.feed IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY i.status_at, i.item_id",
            [list(feeds)],
        ).fetchall()
        held = []
        for entry, stored_hash in rows:
            record = json.loads(entry)
            if record["published_at"]:
                record["published_at"] = datetime.fromisoformat(record["published_at"])
            item = FeedItem(**record)
            if item.item_id not in listed and item.entry_hash != stored_hash:
                held.append(item)
        return held

    # -- the one write path ---------------------------------------------------------------------------
    def load_batch(self, batch: Batch, now: datetime | None = None) -> LoadStats:
        """Write polls, feed state, the item ledger and articles in one transaction (idempotent)."""
        now = now or datetime.now(UTC)
        stats = LoadStats()
        self.con.execute("BEGIN TRANSACTION")
        try:
            polls = self._new_polls(batch.polls)
            outcomes = self._resolve_duplicates(batch.outcomes, stats)
            new_ids = self._upsert_items(outcomes, polls, now, stats)
            stats.other_rows += self._keep_retry_entries(outcomes, polls)
            self._upsert_articles([o for o in outcomes if o.status == "loaded"], now, stats)
            loaded = {o.article_id for o in outcomes if o.status == "loaded"}
            self._write_topics([t for t in batch.topics if t.article_id in loaded], now, stats)
            stats.other_rows += self._write_quality(batch)
            self._record_polls(polls, new_ids, stats)
            self._record_pauses(batch.host_pauses, now)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return stats

    def _record_pauses(self, pauses: Sequence[HostPause], now: datetime) -> None:
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
            with self._staged("staged_pauses", PAUSE_COLUMNS, rows):
                self.con.execute(
                    "UPDATE host_pauses t SET until = s.until, reason = s.reason, "
                    "recorded_at = s.recorded_at FROM staged_pauses s "
                    "WHERE t.host = s.host AND s.until > t.until"
                )
                self.con.execute(
                    "INSERT INTO host_pauses BY NAME SELECT s.* FROM staged_pauses s "
                    "ANTI JOIN host_pauses t USING (host)"
                )
        self.con.execute("DELETE FROM host_pauses WHERE until <= ?", [now])

    def _new_polls(self, polls: Sequence[PollResult]) -> list[PollResult]:
        if not polls:
            return []
        seen = {
            r[0]
            for r in self.con.execute(
                "SELECT poll_id FROM feed_polls WHERE poll_id IN (SELECT unnest(?::VARCHAR[]))",
                [[p.poll_id for p in polls]],
            ).fetchall()
        }
        return [p for p in polls if p.poll_id not in seen]

    def _resolve_duplicates(self, outcomes: Sequence[ItemOutcome], stats: LoadStats) -> list[ItemOutcome]:
        """An article already owned by another item (or earlier in this batch) makes this item a duplicate."""
        ids = [o.article_id for o in outcomes if o.status == "loaded" and o.article_id]
        owner = (
            dict(
                self.con.execute(
                    "SELECT article_id, item_id FROM articles "
                    "WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
                    [ids],
                ).fetchall()
            )
            if ids
            else {}
        )
        resolved = []
        for o in outcomes:
            if o.status == "loaded" and o.article_id:
                first = owner.setdefault(o.article_id, o.item.item_id)
                if first != o.item.item_id:
                    o = ItemOutcome(
                        item=o.item,
                        status="duplicate",
                        article_id=o.article_id,
                        attempts=o.attempts,
                        reason=f"same canonical URL as item {first}",
                    )
            resolved.append(o)
            if o.status == "loaded":
                stats.loaded += 1
            elif o.status == "duplicate":
                stats.duplicate += 1
            elif o.status == "failed":
                stats.failed += 1
            elif o.status == "quarantined":
                stats.quarantined += 1
        return resolved

    def _upsert_items(
        self, outcomes: Sequence[ItemOutcome], polls: Sequence[PollResult], now: datetime, stats: LoadStats
    ) -> set[str]:
        if not outcomes:
            return set()
        poll_of = {p.feed: p for p in polls}
        rows = []
        for o in outcomes:
            poll = poll_of.get(o.item.feed)
            rows.append(
                {
                    "item_id": o.item.item_id,
                    "feed": o.item.feed,
                    "guid": o.item.guid,
                    "link": o.item.link,
                    "canonical_url": o.item.canonical_url,
                    "title": o.item.title,
                    "published_at": o.item.published_at,
                    "entry_hash": o.item.entry_hash,
                    "first_poll_id": poll.poll_id if poll else "",
                    "first_seen_at": poll.started_at if poll else now,
                    "status": o.status,
                    "reason": o.reason,
                    "article_id": o.article_id,
                    "attempts": o.attempts,
                    "retryable": o.retryable,
                    "status_at": now,
                }
            )
        with self._staged("staged_items", ITEM_COLUMNS, rows):
            new_ids = {
                r[0]
                for r in self.con.execute(
                    "SELECT s.item_id FROM staged_items s ANTI JOIN items t USING (item_id)"
                ).fetchall()
            }
            if new_ids and not polls:
                raise WarehouseError("new items in a batch without their poll records")
            # UPDATE + INSERT, not MERGE: measured 15x faster on a file-backed DuckDB 2.0.1 (bench_scale).
            # A failed fetch never undoes a load: a correction's refetch that failed, or a retry that a second
            # run planned before the first one's success was loaded, leaves the item with its article (and
            # its old entry hash, so an edited entry is fetched again).
            updated = self._count(f"""
                UPDATE items t SET
                    status = s.status, reason = s.reason, article_id = s.article_id, attempts = s.attempts,
                    retryable = s.retryable, entry_hash = s.entry_hash, title = s.title, link = s.link,
                    canonical_url = s.canonical_url, published_at = s.published_at, status_at = s.status_at
                FROM staged_items s WHERE t.item_id = s.item_id AND ({_CHANGED_ITEM})
                    AND NOT (s.status = 'failed' AND t.status IN ('loaded', 'duplicate'))
            """)
            inserted = self._count(
                "INSERT INTO items BY NAME SELECT s.* FROM staged_items s ANTI JOIN items t USING (item_id)"
            )
        stats.items_new += inserted
        stats.items_updated += updated
        return new_ids

    def _upsert_articles(self, outcomes: Sequence[ItemOutcome], now: datetime, stats: LoadStats) -> None:
        articles = [o.article for o in outcomes if o.article is not None]
        if not articles:
            return
        rows = ({k: getattr(a, k) for k, _ in ARTICLE_COLUMNS} for a in articles)
        with self._staged("staged_articles", ARTICLE_COLUMNS, rows):
            updated = self._count(
                f"""
                UPDATE articles t SET
                    canonical_url = s.canonical_url, url = s.url, title = s.title, author = s.author,
                    site_name = s.site_name, published_at = s.published_at, language = s.language,
                    language_source = s.language_source, body = s.body, body_source = s.body_source,
                    word_count = s.word_count, body_hash = s.body_hash, raw_path = s.raw_path,
                    http_status = s.http_status, extractor = s.extractor, fetched_at = s.fetched_at,
                    updated_at = ?, version = t.version + 1
                FROM staged_articles s WHERE t.article_id = s.article_id AND ({_CHANGED_ARTICLE})
            """,
                [now],
            )
            inserted = self._count(
                "INSERT INTO articles BY NAME SELECT s.*, ?::TIMESTAMPTZ AS first_loaded_at, "
                "?::TIMESTAMPTZ AS updated_at, 1 AS version "
                "FROM staged_articles s ANTI JOIN articles t USING (article_id)",
                [now, now],
            )
        stats.articles_inserted += inserted
        stats.articles_updated += updated

    def _write_quality(self, batch: Batch) -> int:
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
            with self._staged("staged_quarantine", QUARANTINE_COLUMNS, quarantine.values()):
                written += self._count(
                    "INSERT INTO quarantine BY NAME SELECT s.* REPLACE (s.record::JSON AS record) "
                    "FROM staged_quarantine s ANTI JOIN quarantine t USING (quarantine_id)"
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
            with self._staged("staged_validations", VALIDATION_COLUMNS, validations.values()):
                written += self._count(
                    "INSERT INTO validation_runs BY NAME "
                    "SELECT s.* REPLACE (s.per_expectation::JSON AS per_expectation) "
                    "FROM staged_validations s ANTI JOIN validation_runs t USING (run_id, suite)"
                )
        return written

    def store_topics(self, rows: Sequence[TopicRow], now: datetime | None = None) -> LoadStats:
        """Write topic rows in their own transaction (re-classification); idempotent."""
        stats = LoadStats()
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._write_topics(rows, now or datetime.now(UTC), stats)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return stats

    def _write_topics(self, rows: Sequence[TopicRow], now: datetime, stats: LoadStats) -> None:
        """Upsert rows; drop other classifier versions' rows of the same articles (one version each)."""
        if not rows:
            return
        unique = {(r.article_id, r.topic, r.classifier_version): r for r in reversed(rows)}  # first wins
        rows = list(unique.values())
        staged = (
            {
                **{k: getattr(r, k) for k, _ in TOPIC_COLUMNS[:5]},
                "evidence": json.dumps(r.evidence, sort_keys=True, ensure_ascii=False),
                "classified_at": now,
            }
            for r in rows
        )
        with self._staged("staged_topics", TOPIC_COLUMNS, staged):
            removed = self._count(
                "DELETE FROM article_topics t USING (SELECT DISTINCT article_id, classifier_version "
                "FROM staged_topics) s WHERE t.article_id = s.article_id "
                "AND t.classifier_version <> s.classifier_version"
            )
            updated = self._count("""
                UPDATE article_topics t SET score = s.score, assigned = s.assigned,
                    evidence = s.evidence::JSON, classified_at = s.classified_at
                FROM staged_topics s
                WHERE t.article_id = s.article_id AND t.topic = s.topic
                    AND t.classifier_version = s.classifier_version
                    AND (t.score IS DISTINCT FROM s.score OR t.assigned IS DISTINCT FROM s.assigned
                         OR t.evidence::VARCHAR IS DISTINCT FROM s.evidence::JSON::VARCHAR)
            """)
            inserted = self._count(
                "INSERT INTO article_topics BY NAME SELECT * REPLACE (s.evidence::JSON AS evidence) "
                "FROM staged_topics s "
                "ANTI JOIN article_topics t USING (article_id, topic, classifier_version)"
            )
        stats.topic_rows_removed += removed
        stats.topic_rows_written += updated + inserted

    def articles_for_classification(
        self, batch_size: int = 5000
    ) -> Iterator[list[tuple[str, str | None, str]]]:
        """(article_id, title, body) of every article in id order, one batch at a time (keyset paging)."""
        last = ""
        while True:
            rows = self.con.execute(
                "SELECT article_id, title, body FROM articles "
                "WHERE article_id > ? ORDER BY article_id LIMIT ?",
                [last, batch_size],
            ).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    @contextlib.contextmanager
    def _staged(
        self, name: str, columns: Sequence[tuple[str, pa.DataType]], rows: Iterable[dict[str, Any]]
    ) -> Iterator[None]:
        """``rows`` as a view ``name`` for set-based statements (one statement per table per batch)."""
        self.con.register(name, staged_table(columns, rows))
        try:
            yield
        finally:
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(name)

    def _count(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """Run a DML statement; the number of rows it changed."""
        row = self.con.execute(sql, params or []).fetchone()
        return int(row[0]) if row else 0

    def _record_polls(self, polls: Sequence[PollResult], new_ids: set[str], stats: LoadStats) -> None:
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
        with self._staged("staged_polls", POLL_COLUMNS, rows):
            self.con.execute(
                "INSERT INTO feed_polls BY NAME SELECT poll_id, feed, url, started_at, duration_s, status, "
                "http_status, bytes, items_seen, items_new, error, parse_warning FROM staged_polls"
            )
            for n in range(max(rounds.values())):
                self.con.execute(
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
                self.con.execute(
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

    # -- the published snapshot -------------------------------------------------------------------------
    def publish(self, *, changed_content: bool = True, max_age_s: float = 0.0) -> bool:
        """Publish what readers open: the feed state after every load, and the analysts' snapshot (a whole
        copy of the file) when the load changed more than feed status, when there is none yet, or when the one
        there is older than ``max_age_s``. Returns whether the snapshot was republished.

        Readers (analysts, the ingest DAG's planning) open these, never this file, so they neither block a
        load nor wait for one; a reader that has an old snapshot open keeps reading it unchanged. Planning
        reads the feed state (:func:`open_feed_state`), so skipping the copy never makes it poll a feed
        early; analysts see feed status (``feeds``, ``feed_polls``) at most ``max_age_s`` old.
        """
        if self.read_only:
            raise WarehouseError("cannot publish from a read-only connection")
        self.con.execute("CHECKPOINT")
        target = snapshot_path(self.path)
        fresh = target.exists() and time.time() - target.stat().st_mtime < max_age_s
        if changed_content or not fresh:
            _replace_atomically(target, lambda tmp: shutil.copyfile(self.path, tmp))
        self.publish_feed_state()
        return changed_content or not fresh

    def publish_feed_state(self) -> Path:
        """Write ``feeds`` and ``host_pauses`` (with the schema version) to :func:`state_path`: milliseconds
        for 10,000 feeds, where a snapshot copies the whole file."""
        target = state_path(self.path)

        def write(tmp: Path) -> None:
            name = str(tmp).replace("'", "''")
            self.con.execute(f"ATTACH '{name}' AS feed_state_out")
            try:
                for table in ("schema_migrations", "feeds", "host_pauses"):
                    self.con.execute(f"CREATE TABLE feed_state_out.{table} AS SELECT * FROM main.{table}")
                self.con.execute("CHECKPOINT feed_state_out")  # all in the file, none in a WAL beside it
            finally:
                self.con.execute("DETACH feed_state_out")

        _replace_atomically(target, write)
        return target

    def record_feed_health(self, day: date) -> int:
        """One ``feed_health`` row per configured feed for ``day`` (UTC): polls, failures, new items."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        self.con.execute("BEGIN TRANSACTION")
        try:
            rows = self.con.execute(
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
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return len(rows)

    # -- analyst helpers ---------------------------------------------------------------------------------
    def ledger_violations(self) -> list[tuple[Any, ...]]:
        return self.con.execute("SELECT * FROM v_ledger_violations").fetchall()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.con.execute(sql, params or [])
        columns = [d[0] for d in cur.description or []]
        return columns, cur.fetchall()
