"""Maintenance stages: retention of staging runs, raw HTML and Data Docs; feed health; the checkpoint."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from newsflow.articles import RawStore
from newsflow.config import Settings
from newsflow.run.layout import RunFolder, staging_root
from newsflow.warehouse import Warehouse, snapshot_path


def prune_staging(home: Path, retention_days: float, now: datetime | None = None) -> int:
    """Delete loaded staging runs older than the retention; never a run that is not loaded yet."""
    root = staging_root(home)
    if not root.is_dir():
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    removed = 0
    for folder in root.iterdir():
        run = RunFolder(folder)
        if run.is_loaded and datetime.fromisoformat(run.loaded()["loaded_at"]) < cutoff:
            shutil.rmtree(folder)
            removed += 1
    return removed


def prune_files(home: Path, settings: Settings, staging_retention_days: float) -> dict[str, int]:
    """Apply every file retention: loaded staging runs, raw HTML days, Data Docs validation pages."""
    from newsflow.quality import prune_data_docs

    return {
        "staging_runs_removed": prune_staging(home, staging_retention_days),
        "raw_days_removed": RawStore(home).prune(settings.raw_html_retention_days),
        "data_docs_removed": prune_data_docs(home, settings.data_docs_keep),
    }


def record_feed_health(warehouse: Path, day: date) -> int:
    """Summarise each feed's polls of ``day`` into ``feed_health`` (idempotent per day and feed)."""
    with Warehouse(warehouse) as wh:
        return wh.record_feed_health(day)


def checkpoint(warehouse: Path) -> str:
    """Fold the write-ahead log into the file and republish the snapshot."""
    with Warehouse(warehouse) as wh:
        wh.publish()
        return str(snapshot_path(warehouse))
