"""The :class:`Warehouse`: owns the connection to one DuckDB file and offers the stages' reads and writes,
each done by the module of its concern (planning, load, publish, health).

Only :meth:`Warehouse.load_batch` writes pipeline data, in one transaction: loading the same batch twice
changes nothing, a corrected article updates its row (``version`` + 1), a failed load leaves nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from newsflow.models import (
    Article,
    Batch,
    FeedItem,
    FeedState,
    HostPause,
    PollResult,
    StoredArticle,
    TopicRow,
)
from newsflow.stories import StoryParams
from newsflow.warehouse import db, health, load, planning, publish
from newsflow.warehouse.load import LoadStats
from newsflow.warehouse.planning import Plan


class Warehouse:
    """A DuckDB warehouse file. Use as a context manager; open read-only for queries."""

    def __init__(self, path: str | Path, *, read_only: bool = False, lock_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise db.WarehouseError(f"{self.path}: no warehouse yet (run `newsflow run` first)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = db.connect(self.path, read_only=read_only, lock_timeout_s=lock_timeout_s)
        if not read_only:
            self.migrate()

    def close(self) -> None:
        """Close the connection (the context manager does it on exit)."""
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The latest migration the file has."""
        return db.schema_version(self.con)

    def has(self, migration: str) -> bool:
        """Whether the file has the migration called ``migration`` (a snapshot may be older than the code)."""
        return db.has(self.con, migration)

    def migrate(self) -> list[int]:
        """Apply every migration not yet recorded, in order, each in its own transaction; returns them."""
        return db.migrate(self.con, self.path)

    # -- reads used by the stages --------------------------------------------------------------------
    def feed_states(self) -> dict[str, FeedState]:
        """Each known feed's stored state, by name."""
        return planning.feed_states(self.con)

    def host_pauses(self) -> list[HostPause]:
        """The stored pauses hosts asked for (none in a snapshot from before them)."""
        return planning.host_pauses(self.con)

    def plan(
        self,
        polls: Sequence[PollResult],
        max_attempts: int,
        in_flight: Mapping[str, str] | None = None,
        *,
        pauses: Sequence[HostPause] = (),
        now: datetime | None = None,
    ) -> Plan:
        """Which items of ``polls`` to fetch: new ones, corrections and retries (see :func:`planning.plan`),
        except those of hosts whose pause is still on at ``now``."""
        return planning.plan(self.con, polls, max_attempts, in_flight or {}, pauses, now or datetime.now(UTC))

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

    def articles_for_reextraction(
        self, *, since: datetime | None = None, feed: str | None = None, batch_size: int = 1000
    ) -> Iterator[list[StoredArticle]]:
        """Stored articles (fetched at or after ``since``, first brought by ``feed``) with their ledger items,
        in id order, one batch at a time (keyset paging)."""
        names = [f.name for f in dataclasses.fields(Article)]
        entry = ["guid", "link", "canonical_url", "title", "published_at", "entry_hash", "attempts"]
        sql = (
            f"SELECT {', '.join('a.' + n for n in names)}, {', '.join('i.' + c for c in entry)} "
            "FROM articles a JOIN items i ON i.item_id = a.item_id WHERE a.article_id > ? "
            "AND (?::TIMESTAMPTZ IS NULL OR a.fetched_at >= ?::TIMESTAMPTZ) "
            "AND (?::VARCHAR IS NULL OR a.feed = ?::VARCHAR) ORDER BY a.article_id LIMIT ?"
        )
        last = ""
        while True:
            rows = self.con.execute(sql, [last, since, since, feed, feed, batch_size]).fetchall()
            if not rows:
                return
            batch = []
            for row in rows:
                article = Article(**dict(zip(names, row[: len(names)], strict=True)))
                guid, link, canonical, title, published, entry_hash, attempts = row[len(names) :]
                item = FeedItem(
                    item_id=article.item_id,
                    feed=article.feed,
                    guid=guid,
                    link=link,
                    canonical_url=canonical,
                    title=title,
                    summary=None,
                    content=None,
                    author=None,
                    published_at=published,
                    entry_hash=entry_hash,
                )
                batch.append(StoredArticle(article, item, attempts))
            yield batch
            last = rows[-1][0]

    def rejected_reextractions(self, article_ids: Sequence[str], extractor: str) -> set[str]:
        """The articles of ``article_ids`` whose re-extraction by ``extractor`` the quality gate rejected
        before (a ``reextract-`` run's quarantine row): the same extractor makes the same text again."""
        rows = self.con.execute(
            "SELECT DISTINCT article_id FROM quarantine WHERE run_id LIKE 'reextract-%' "
            "AND record->>'extractor' = ? AND article_id IN (SELECT unnest(?::VARCHAR[]))",
            [extractor, list(article_ids)],
        ).fetchall()
        return {r[0] for r in rows}

    # -- writes ----------------------------------------------------------------------------------------
    def load_batch(
        self, batch: Batch, now: datetime | None = None, stories: StoryParams | None = None
    ) -> LoadStats:
        """Write polls, feed state, the item ledger, articles and their stories in one transaction
        (idempotent)."""
        return load.load_batch(self.con, batch, now or datetime.now(UTC), stories)

    def recluster(self, stories: StoryParams, batch_size: int = 5000) -> int:
        """Rebuild every story (after a threshold change, or for articles loaded before stories existed), in
        one transaction; returns the articles assigned."""
        from newsflow.warehouse.db import transaction
        from newsflow.warehouse.stories import recluster

        with transaction(self.con):
            return sum(recluster(self.con, stories, datetime.now(UTC), batch_size))

    def store_topics(self, rows: Sequence[TopicRow], now: datetime | None = None) -> LoadStats:
        """Write topic rows in their own transaction (re-classification); idempotent."""
        return load.store_topics(self.con, rows, now or datetime.now(UTC))

    def record_feed_health(self, day: date) -> int:
        """One ``feed_health`` row per configured feed for ``day`` (UTC): polls, failures, new items."""
        return health.record_feed_health(self.con, day)

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
            raise db.WarehouseError("cannot publish from a read-only connection")
        return publish.publish(self.con, self.path, changed_content=changed_content, max_age_s=max_age_s)

    def publish_feed_state(self) -> Path:
        """Write ``feeds`` and ``host_pauses`` (with the schema version) to :func:`db.state_path`."""
        return publish.publish_feed_state(self.con, self.path)

    # -- analyst helpers ---------------------------------------------------------------------------------
    def ledger_violations(self) -> list[tuple[Any, ...]]:
        """The rows of ``v_ledger_violations``: items the ledger does not account for (none when sound)."""
        return self.con.execute("SELECT * FROM v_ledger_violations").fetchall()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """An ad-hoc query's column names and rows."""
        cur = self.con.execute(sql, params or [])
        columns = [d[0] for d in cur.description or []]
        return columns, cur.fetchall()


def open_for_reading(warehouse: Path, *, live: bool = False) -> Warehouse | None:
    """A read-only view: the published snapshot (``live``: the file itself); None if neither exists."""
    path = db.reading_file(warehouse, live=live)
    return None if path is None else Warehouse(path, read_only=True)


def open_feed_state(warehouse: Path) -> Warehouse | None:
    """A read-only view holding the newest published feed state (:func:`db.feed_state_file`); None before
    the first load."""
    path = db.feed_state_file(warehouse)
    return None if path is None else Warehouse(path, read_only=True)
