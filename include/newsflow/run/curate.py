"""The curate stages: classify the staged runs, run the quality gate on them, load them (the one writer).

Classification and the gate read and write only staging files; :func:`load_runs` is the only stage that
writes the warehouse, in one transaction per staged run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsflow.config import FeedsFile, Settings
from newsflow.models import Batch, ItemOutcome, QuarantineRecord, TopicRow, ValidationRun
from newsflow.run.ingest import staged_pauses, staged_polls
from newsflow.run.layout import RunFolder, pending_runs
from newsflow.run.parquet import read_records, write_records
from newsflow.stories import StoryParams
from newsflow.topics import Classifier, classify_articles, make_classifier
from newsflow.warehouse import LoadStats, Warehouse
from newsflow.workers import WorkerPool, cpu_workers


def read_run(folder: Path, *, validated: bool = True) -> Batch:
    """The staged run as one batch: the validated one (with its quarantine) once the gate has run on it,
    unless ``validated=False`` asks for the batch as staged before the gate."""
    run = RunFolder(folder)
    polls = staged_polls(run)
    if validated and run.is_validated:
        return Batch(
            polls=polls,
            outcomes=read_records(run.validated_file("outcomes"), ItemOutcome),
            topics=read_records(run.validated_file("topics"), TopicRow),
            quarantine=read_records(run.validated_file("quarantine"), QuarantineRecord),
            validations=read_records(run.validated_file("validations"), ValidationRun),
            host_pauses=staged_pauses(folder),
        )
    outcomes = [o for f in run.outcome_files() for o in read_records(f, ItemOutcome)]
    topics = read_records(run.topics_file, TopicRow) if run.topics_file.exists() else []
    return Batch(polls=polls, outcomes=outcomes, topics=topics, host_pauses=staged_pauses(folder))


def story_params(settings: Settings) -> StoryParams:
    """The story thresholds of a feeds file's settings (what the load passes to the story step)."""
    return StoryParams.of(settings)


def topic_names(taxonomy: str | Path | None) -> list[str]:
    """The topics of a taxonomy file (None: the packaged default), as the quality gate checks them."""
    return make_classifier(taxonomy).topics


def classify_runs(
    runs: Sequence[Path], classifier: Classifier, *, workers: int, pool: WorkerPool | None = None
) -> int:
    """Score the staged articles of ``runs`` and stage their topic rows; returns the articles scored."""
    articles = 0
    for folder in runs:
        staged = [o.article for o in read_run(folder, validated=False).outcomes if o.article is not None]
        topics = classify_articles(staged, classifier, workers=workers, pool=pool)
        write_records(RunFolder(folder).topics_file, TopicRow, topics)
        articles += len(staged)
    return articles


def classify_pending(config: FeedsFile, *, home: Path) -> dict[str, Any]:
    """Score the staged articles of every pending run against the taxonomy (no database).

    Returns the runs it classified: the load takes exactly those, so a run staged in between waits for the
    next curate run instead of loading unclassified.
    """
    classifier = make_classifier(config.taxonomy)
    runs = pending_runs(home)
    articles = classify_runs(runs, classifier, workers=cpu_workers(config.settings))
    return {"runs": [str(r) for r in runs], "articles": articles, "classifier_version": classifier.version}


def validate_runs(
    runs: list[str], *, home: Path, topic_names: list[str], now: datetime | None = None
) -> dict[str, Any]:
    """Run the quality gate on classified runs; stage each validated batch with its quarantine.

    The GX project must have been set up once (``newsflow quality-setup``); this only runs it.
    """
    from newsflow.quality import GXProject, quality_root, validate_batch

    project = GXProject(quality_root(home))
    if not project.is_set_up():
        raise RuntimeError(f"no GX project in {project.root}: run `newsflow quality-setup` once first")
    now = now or datetime.now(UTC)
    verdicts = []
    for path in runs:
        run = RunFolder(Path(path))
        if run.is_loaded:
            continue
        if not run.topics_file.exists():
            raise RuntimeError(f"{run.name}: not classified yet (classify_pending runs before the gate)")
        batch = read_run(run.path, validated=False)  # a re-run of the gate starts from the staged batch again
        result = validate_batch(batch, project, run_id=run.name, now=now, topic_names=topic_names)
        write_records(run.validated_file("quarantine"), QuarantineRecord, result.batch.quarantine)
        write_records(run.validated_file("validations"), ValidationRun, result.batch.validations)
        write_records(run.validated_file("topics"), TopicRow, result.batch.topics)
        run.validated_file("gate").write_text(
            json.dumps({"failed_share": result.failed_share, "quarantined": len(result.batch.quarantine)})
        )
        # last: marks the run validated
        write_records(run.validated_file("outcomes"), ItemOutcome, result.batch.outcomes)
        verdicts.append(
            {
                "run": run.name,
                "failed_share": round(result.failed_share, 4),
                "quarantined": len(result.batch.quarantine),
                "docs": [r.data_docs_path for r in result.runs],
            }
        )
    return {"runs": runs, "verdicts": verdicts}


def gate_verdict(folder: Path) -> dict[str, Any] | None:
    """The gate's verdict on a run (failing share, rows quarantined), if the gate ran on it."""
    gate = RunFolder(folder).validated_file("gate")
    return dict(json.loads(gate.read_text())) if gate.exists() else None


def enforce_gate(runs: list[str], max_share: float) -> list[dict[str, Any]]:
    """Fail loudly (after the load wrote the quarantine) when a run's failing share passed the threshold."""
    from newsflow.quality import QuarantineShareExceeded

    verdicts = [
        {"run": Path(run).name, **verdict} for run in runs if (verdict := gate_verdict(Path(run))) is not None
    ]
    over = [v for v in verdicts if v["failed_share"] > max_share]
    if over:
        raise QuarantineShareExceeded(
            "; ".join(f"run {v['run']}: {v['failed_share']:.0%} of rows failed validation" for v in over)
            + f" (threshold {max_share:.0%}); the rows are in the quarantine table, the rest loaded"
        )
    return verdicts


def load_run(
    wh: Warehouse, folder: Path, *, now: datetime | None = None, stories: StoryParams | None = None
) -> LoadStats:
    """Load one staged run in one transaction and mark it loaded."""
    stats = wh.load_batch(read_run(folder), now=now, stories=stories)
    RunFolder(folder).mark_loaded({"loaded_at": datetime.now(UTC).isoformat(), **asdict(stats)})
    return stats


def load_runs(
    runs: list[str],
    *,
    warehouse: Path,
    snapshot_max_age_s: float = 0.0,
    writer: Warehouse | None = None,
    now: datetime | None = None,
    stories: StoryParams | None = None,
) -> dict[str, Any]:
    """Load staged runs, one transaction each (skipping any already loaded), then publish. The one writer.

    The analysts' snapshot is republished when a run changed more than feed status, or when it is older than
    ``snapshot_max_age_s``; the feed state planning reads is published every time. ``writer``: the caller's
    open warehouse (kept open). ``stories``: the story thresholds (default: the packaged settings')."""
    totals: dict[str, Any] = {
        "runs": 0,
        "articles_inserted": 0,
        "articles_updated": 0,
        "items_new": 0,
        "duplicate": 0,
        "failed": 0,
    }
    todo = [Path(r) for r in runs if not RunFolder(Path(r)).is_loaded]
    if not todo:
        return totals
    changed = False
    with ExitStack() as stack:
        wh = writer or stack.enter_context(Warehouse(warehouse))
        for folder in todo:
            stats = load_run(wh, folder, now=now, stories=stories)
            changed |= stats.changed_content
            totals["runs"] += 1
            for key in ("articles_inserted", "articles_updated", "items_new", "duplicate", "failed"):
                totals[key] += getattr(stats, key)
        totals["snapshot_published"] = wh.publish(changed_content=changed, max_age_s=snapshot_max_age_s)
    return totals
