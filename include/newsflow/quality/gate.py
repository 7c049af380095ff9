"""The quality gate stage: validate a batch with Great Expectations and route failing rows to quarantine.

Failing articles (and articles whose topic rows fail) are not loaded: their items end ``quarantined`` with the
expectations they failed, and the rows are kept whole in ``quarantine``. Nothing is dropped. When the failing
share passes ``max_quarantine_share`` the caller loads (so the quarantine is written) and then fails loudly.
An expectation that errors raises :class:`~newsflow.quality.errors.ValidationPipelineError`: a pipeline
error, not bad rows. GX is imported only when a batch is validated.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from newsflow.models import Article, Batch, ItemOutcome, QuarantineRecord, ValidationRun
from newsflow.quality.frames import ARTICLES_SUITE, TOPICS_SUITE, articles_frame, topics_frame
from newsflow.quality.project import GXProject
from newsflow.quality.routing import route


class QuarantineShareExceeded(RuntimeError):
    """Too large a share of a batch failed validation: something systemic broke (raised after loading)."""


@dataclass(frozen=True)
class GateResult:
    """The validated batch, this gate's validation runs, and the share of new articles that failed."""

    batch: Batch
    runs: list[ValidationRun]
    failed_share: float


def quality_root(home: Path) -> Path:
    """Where the GX project and its Data Docs live in the data directory."""
    return home / "quality"


def ensure_project(home: Path) -> GXProject:
    """Set the GX project up if it is not (single-process use: the CLI and set-up scripts)."""
    project = GXProject(quality_root(home))
    if not project.is_set_up():
        project.root.mkdir(parents=True, exist_ok=True)
        project.setup()
    return project


def validate_batch(
    batch: Batch, project: GXProject, *, run_id: str, now: datetime, topic_names: Sequence[str]
) -> GateResult:
    """Validate the batch's new articles and topic rows; return the batch with failing rows quarantined."""
    first: dict[str, Article] = {}
    for o in batch.outcomes:
        if o.status == "loaded" and o.article is not None:
            first.setdefault(o.article.article_id, o.article)  # later copies resolve as duplicates at load
    articles = list(first.values())
    if not articles:
        return GateResult(batch, [], 0.0)  # nothing new to validate: no empty runs in the quality history
    assigned: dict[str, list[str]] = {}
    for t in batch.topics:
        if t.assigned:
            assigned.setdefault(t.article_id, []).append(t.topic)
    frames = [(articles_frame(articles, assigned), ARTICLES_SUITE)]
    if batch.topics:
        frames.append((topics_frame(batch.topics, now), TOPICS_SUITE))
    validations = project.validate_all(frames, run_id, now, topic_names=topic_names)
    runs = [v.run for v in validations]
    reasons: dict[str, list[str]] = {}
    records: dict[str, dict[str, Any]] = {}
    for bad in route(articles, validations[0]).quarantined:
        reasons.setdefault(bad.original.article_id, []).extend(bad.reasons)
        records[bad.original.article_id] = bad.record
    if batch.topics:
        for bad_topic in route(batch.topics, validations[1]).quarantined:
            row = bad_topic.original
            reasons.setdefault(row.article_id, []).extend(
                f"topic {row.topic}: {r}" for r in bad_topic.reasons
            )
    outcomes: list[ItemOutcome] = []
    quarantine: list[QuarantineRecord] = []
    for o in batch.outcomes:
        if o.status == "loaded" and o.article_id in reasons:
            why = tuple(dict.fromkeys(reasons[o.article_id]))
            article = o.article
            record = records.get(o.article_id) or (
                json.loads(json.dumps(dataclasses.asdict(article), default=str)) if article else {}
            )
            quarantine.append(
                QuarantineRecord(
                    quarantine_id=f"{run_id}:{o.item.item_id}"[-200:],
                    item_id=o.item.item_id,
                    article_id=o.article_id,
                    run_id=run_id,
                    reasons=why,
                    record=record,
                    quarantined_at=now,
                )
            )
            o = ItemOutcome(
                item=o.item,
                status="quarantined",
                reason="failed validation: " + "; ".join(why),
                article_id=o.article_id,
                attempts=o.attempts,
            )
        outcomes.append(o)
    validated = dataclasses.replace(
        batch,
        outcomes=outcomes,
        topics=[t for t in batch.topics if t.article_id not in reasons],
        quarantine=batch.quarantine + quarantine,
        validations=batch.validations + runs,
    )
    failed = len({a for a in reasons if a in first})
    return GateResult(validated, runs, failed / len(articles) if articles else 0.0)
