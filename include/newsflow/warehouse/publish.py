"""Publishing what readers open instead of the live file: the analysts' snapshot (a whole copy) and the
small feed state that planning reads, each replaced atomically so a reader never sees half a file."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from newsflow.warehouse.db import snapshot_path, state_path


def publish(con: duckdb.DuckDBPyConnection, path: Path, *, changed_content: bool, max_age_s: float) -> bool:
    """Publish the feed state, and the snapshot of ``path`` when the load changed more than feed status, when
    there is none yet or when the one there is older than ``max_age_s``; whether the snapshot was."""
    con.execute("CHECKPOINT")
    target = snapshot_path(path)
    fresh = target.exists() and time.time() - target.stat().st_mtime < max_age_s
    if changed_content or not fresh:
        _replace_atomically(target, lambda tmp: shutil.copyfile(path, tmp))
    publish_feed_state(con, path)
    return changed_content or not fresh


def publish_feed_state(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Write ``feeds`` and ``host_pauses`` (with the schema version) to :func:`state_path`: far smaller and
    quicker than the snapshot, which copies the whole file."""
    target = state_path(path)

    def write(tmp: Path) -> None:
        name = str(tmp).replace("'", "''")
        con.execute(f"ATTACH '{name}' AS feed_state_out")
        try:
            for table in ("schema_migrations", "feeds", "host_pauses"):
                con.execute(f"CREATE TABLE feed_state_out.{table} AS SELECT * FROM main.{table}")
            con.execute("CHECKPOINT feed_state_out")  # all in the file, none in a WAL beside it
        finally:
            con.execute("DETACH feed_state_out")

    _replace_atomically(target, write)
    return target


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
