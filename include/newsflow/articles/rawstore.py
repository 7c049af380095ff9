"""Fetched HTML kept gzip-compressed under ``<home>/raw/<day>/`` so articles can be re-extracted
without refetching; ``prune`` enforces the retention."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path


def write_gzip(path: Path, data: bytes) -> None:
    """Write ``data`` gzip-compressed (level 1: fast, it runs beside extraction) to a temporary file of its
    own, then rename it to ``path``: two threads may write the same file at once, and a process killed
    mid-write leaves no half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RawStore:
    def __init__(self, home: Path) -> None:
        self.root = home / "raw"

    def put(self, article_id: str, body_hash: str, html: bytes, when: datetime) -> str:
        """Store ``html``; returns the path relative to the data home. Idempotent for the same content."""
        rel = Path("raw") / when.strftime("%Y-%m-%d") / f"{article_id}-{body_hash[:12]}.html.gz"
        path = self.root.parent / rel
        if not path.exists():
            write_gzip(path, html)
        return rel.as_posix()

    def get(self, rel: str) -> bytes:
        with gzip.open(self.root.parent / rel, "rb") as fh:
            return fh.read()

    def prune(self, retention_days: int, now: datetime | None = None) -> int:
        """Delete day folders older than the retention; returns how many folders were removed."""
        if not self.root.is_dir():
            return 0
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=retention_days)).strftime("%Y-%m-%d")
        removed = 0
        for day in sorted(self.root.iterdir()):
            if day.is_dir() and day.name < cutoff:
                shutil.rmtree(day)
                removed += 1
        return removed
