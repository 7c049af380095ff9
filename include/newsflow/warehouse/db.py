"""The warehouse file: where it and its published copies live, opening it, its migrations, mapping rows.

It is also the one place that decides what a reader does with a file older than the code: which published
file to open (:func:`reading_file`, :func:`feed_state_file`) and whether it has a migration's tables yet
(:func:`has`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

LOGGER = logging.getLogger(__name__)
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")
T = TypeVar("T")


class WarehouseError(RuntimeError):
    """The warehouse is missing, locked for too long or inconsistent."""


def snapshot_path(warehouse: Path) -> Path:
    """Where the read-only snapshot of ``warehouse`` is published (beside it)."""
    return warehouse.with_name(f"{warehouse.stem}.published{warehouse.suffix}")


def state_path(warehouse: Path) -> Path:
    """Where the feed state (``feeds``, ``host_pauses``) is published after every load, beside the warehouse:
    planning reads it, so a load that changed nothing else need not republish the whole snapshot."""
    return warehouse.with_name(f"{warehouse.stem}.state{warehouse.suffix}")


def reading_file(warehouse: Path, *, live: bool = False) -> Path | None:
    """The file readers open: the published snapshot, else the warehouse itself (``live``: only the file
    itself); None if neither exists."""
    for candidate in [warehouse] if live else [snapshot_path(warehouse), warehouse]:
        if candidate.exists():
            return candidate
    return None


def feed_state_file(warehouse: Path) -> Path | None:
    """The file holding the newest published feed state: the state file, unless the snapshot is newer (an
    older newsflow published no state file), else :func:`reading_file`; None before the first load."""
    state, snapshot = state_path(warehouse), snapshot_path(warehouse)
    if state.exists() and (not snapshot.exists() or state.stat().st_mtime_ns >= snapshot.stat().st_mtime_ns):
        return state
    return reading_file(warehouse)


@functools.cache
def _packaged() -> tuple[tuple[int, str, str], ...]:
    found = []
    for entry in resources.files("newsflow").joinpath("warehouse/migrations").iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return tuple(sorted(found))


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every packaged migration, in order."""
    return list(_packaged())


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


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: committed if it returns, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The latest migration recorded in the file (0 for a file without any)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT COALESCE(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def has(con: duckdb.DuckDBPyConnection, migration: str) -> bool:
    """Whether the file has the migration called ``migration`` (e.g. ``"host_pauses"``). A snapshot published
    before an upgrade lacks the newest until the next load republishes it: its readers do without them."""
    versions = {name: version for version, name, _ in _packaged()}
    if migration not in versions:
        raise KeyError(f"no packaged migration is called {migration!r}")
    return schema_version(con) >= versions[migration]


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> list[int]:
    """Apply every migration not yet recorded, in order, each in its own transaction; returns them."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in _packaged():
        if version in done:
            continue
        with transaction(con):
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, datetime.now(UTC)])
        applied.append(version)
        LOGGER.info("warehouse %s: applied migration %04d_%s", path, version, name)
    return applied


def records(cursor: duckdb.DuckDBPyConnection, make: Callable[..., T]) -> list[T]:
    """The rows of ``cursor``'s last query as ``make(**row)``: each column passed by its name, so a record
    (a dataclass, or a function taking keywords) never depends on the order of the columns."""
    names = [d[0] for d in cursor.description or []]
    return [make(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def count(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> int:
    """Run a DML statement; the number of rows it changed."""
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row else 0
