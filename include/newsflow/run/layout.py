"""The staging area: where an ingest run's stage outputs wait for the one writer, and the markers that say
how far each run got. Every path of a run's folder is spelled here and nowhere else.

Layout of ``<home>/staging/<run>/``::

    polls/<group>.parquet      PollResults (with their items), one file per poll task
    pauses/<task>.parquet      host pauses (Retry-After) met by a poll or fetch task
    fetch/batch-0000.parquet   FeedItems to fetch, in batches (a host's items in one batch)
    fetch/batch-0000.journal/  downloads of a fetch task, kept until its outcomes are staged
    fetch/attempts.json, fetch/pauses.parquet, fetch/plan.json   the plan's attempts, pauses and counts
    outcomes/duplicates.parquet, outcomes/paused.parquet, outcomes/batch-0000.parquet   ItemOutcomes
    topics.parquet             topic rows of the staged articles (curate's classify step)
    validated/                 the batch after the quality gate (outcomes.parquet written last)
    manifest.json              written last by the ingest run: the run is complete and ready to load
    loaded.json                written by the load after its transaction committed
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SAFE_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def folder_name(run_id: str) -> str:
    """A run id as a safe folder name (also the validation runs' id for the run)."""
    return _SAFE_RE.sub("_", run_id).strip("._")[:120] or "run"


def run_dir(home: Path, run_id: str) -> Path:
    """The staging folder of one ingest run."""
    return staging_root(home) / folder_name(run_id)


def staging_root(home: Path) -> Path:
    return home / "staging"


def batch_journal(batch: Path) -> Path:
    """The folder where a fetch task keeps its downloads until its outcomes are staged."""
    return batch.with_name(f"{batch.stem}.journal")


@dataclass(frozen=True)
class RunFolder:
    """One run's staging folder: its files, and the markers of its progress."""

    path: Path

    @classmethod
    def of(cls, home: Path, run_id: str) -> RunFolder:
        return cls(run_dir(home, run_id))

    @property
    def name(self) -> str:
        return self.path.name

    # -- ingest -------------------------------------------------------------------------------------

    def poll_file(self, group: str) -> Path:
        return self.path / "polls" / f"{group}.parquet"

    def poll_files(self) -> list[Path]:
        return sorted((self.path / "polls").glob("*.parquet"))

    def pause_file(self, task: str) -> Path:
        return self.path / "pauses" / f"{task}.parquet"

    def pause_files(self, prefix: str = "") -> list[Path]:
        return sorted((self.path / "pauses").glob(f"{prefix}*.parquet"))

    @property
    def fetch_dir(self) -> Path:
        return self.path / "fetch"

    def batch_file(self, n: int) -> Path:
        return self.fetch_dir / f"batch-{n:04d}.parquet"

    def batch_files(self) -> list[Path]:
        return sorted(self.fetch_dir.glob("batch-*.parquet"))

    @property
    def attempts_file(self) -> Path:
        return self.fetch_dir / "attempts.json"

    @property
    def fetch_pauses_file(self) -> Path:
        """The pauses the plan knew of, for every fetch task of the run to honour."""
        return self.fetch_dir / "pauses.parquet"

    @property
    def plan_file(self) -> Path:
        return self.fetch_dir / "plan.json"

    def outcome_file(self, batch: Path | str) -> Path:
        """The outcomes of a fetch batch (``batch`` is its file), or of ``"duplicates"`` / ``"paused"``."""
        name = batch.name if isinstance(batch, Path) else f"{batch}.parquet"
        return self.path / "outcomes" / name

    def outcome_files(self) -> list[Path]:
        return sorted((self.path / "outcomes").glob("*.parquet"))

    # -- curate -------------------------------------------------------------------------------------

    @property
    def topics_file(self) -> Path:
        return self.path / "topics.parquet"

    def validated_file(self, kind: str) -> Path:
        """``kind``: outcomes, topics, quarantine, validations (Parquet) or gate (JSON)."""
        suffix = ".json" if kind == "gate" else ".parquet"
        return self.path / "validated" / f"{kind}{suffix}"

    @property
    def is_validated(self) -> bool:
        return self.validated_file("outcomes").exists()  # written last by the gate

    # -- markers ------------------------------------------------------------------------------------

    @property
    def manifest_file(self) -> Path:
        return self.path / "manifest.json"

    @property
    def loaded_file(self) -> Path:
        return self.path / "loaded.json"

    @property
    def is_complete(self) -> bool:
        return self.manifest_file.exists()

    @property
    def is_loaded(self) -> bool:
        return self.loaded_file.exists()

    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.manifest_file.read_text()))

    def loaded(self) -> dict[str, Any]:
        return dict(json.loads(self.loaded_file.read_text()))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Atomically: a reader sees no manifest or the whole one."""
        tmp = self.path / ".manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1))
        tmp.replace(self.manifest_file)

    def mark_loaded(self, marker: dict[str, Any]) -> None:
        self.loaded_file.write_text(json.dumps(marker))


def pending_runs(home: Path) -> list[Path]:
    """Staged runs that are complete (manifest written) and not yet loaded, oldest first."""
    root = staging_root(home)
    if not root.is_dir():
        return []
    runs = [RunFolder(d) for d in root.iterdir() if (d / "manifest.json").exists()]
    pending = [r for r in runs if not r.is_loaded]
    return [r.path for r in sorted(pending, key=lambda r: str(r.manifest()["staged_at"]))]


def loaded_runs(home: Path) -> list[RunFolder]:
    """Staged runs whose load committed, the most recently loaded last."""
    root = staging_root(home)
    markers = sorted(root.glob("*/loaded.json"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    return [RunFolder(m.parent) for m in markers]
