"""``newsflow reextract`` and the ``news_reextract`` DAG: re-extract stored articles from their kept HTML with
the current extractor, no refetch, through the normal classification, quality gate and load.

Holds the warehouse (the one writer) from the start, as ``newsflow run`` does, so no load can change an
article between its re-extraction and its update. Works in batches: each batch is staged as a run of its own
(``reextract-<time>-<n>``), classified, validated and loaded in one transaction, so an interrupted run resumes
by running again. Idempotent: an article whose re-extraction changes nothing is not staged, so a second run
writes nothing.
"""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newsflow.articles import EXTRACTOR, RawStore, extraction_workers, reextract
from newsflow.articles.reextraction import changed
from newsflow.config import FeedsFile, data_home
from newsflow.models import Article, ItemOutcome, StoredArticle
from newsflow.run.curate import classify_runs, gate_verdict, load_runs, validate_runs
from newsflow.run.layout import RunFolder
from newsflow.run.parquet import read_records, write_records
from newsflow.stories import StoryParams
from newsflow.topics import Classifier, classifier_pool, make_classifier
from newsflow.warehouse import Warehouse
from newsflow.workers import WorkerCrashed, WorkerPool, WorkerTimeout

LOGGER = logging.getLogger(__name__)
MAX_LISTED = 1000
"""At most this many articles are listed per kind (kept, no raw HTML) in the summary; all are counted."""


@dataclass
class ReextractSummary:
    """What a re-extraction did; printed by ``newsflow reextract``, returned by the DAG's task."""

    extractor: str
    examined: int = 0
    unchanged: int = 0
    staged: int = 0
    """Articles the current extractor changes, staged for the gate and the load."""
    articles_updated: int = 0
    quarantined: int = 0
    """Staged articles the quality gate rejected: their rows are in ``quarantine``, the stored article and
    its item's ledger row stay as they were."""
    rejected_before: int = 0
    """Articles whose re-extraction by this extractor the gate rejected on an earlier run: not redone."""
    kept: int = 0
    """Articles whose re-extraction gave no text (or too little, or failed): the stored text stays."""
    no_raw_html: int = 0
    """Articles whose raw HTML is gone (past ``raw_html_retention_days``, or never kept): not re-extracted."""
    changed_fields: dict[str, int] = field(default_factory=dict)
    kept_list: list[dict[str, str]] = field(default_factory=list)
    no_raw_html_list: list[dict[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        fields_ = ", ".join(f"{k} {v}" for k, v in sorted(self.changed_fields.items())) or "none"
        return [
            f"extractor {self.extractor}: {self.examined} articles examined",
            f"  {self.unchanged} unchanged, {self.staged} changed ({self.articles_updated} updated, "
            f"{self.quarantined} quarantined by the quality gate: the stored article stays)",
            f"  {self.rejected_before} not redone: an earlier run's gate rejected this extractor's text",
            f"  fields changed: {fields_}",
            f"  {self.kept} kept as stored: the current extractor gave no text or too little",
            f"  {self.no_raw_html} not re-extracted: their raw HTML is gone (past raw_html_retention_days)",
        ]


def reextract_articles(
    config: FeedsFile,
    warehouse_path: Path,
    *,
    home: Path | None = None,
    since: datetime | None = None,
    feed: str | None = None,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> ReextractSummary:
    """Re-extract the stored articles fetched at or after ``since`` (default: all) that ``feed`` first brought
    (default: any feed)."""
    home = home or data_home()
    now = now or datetime.now(UTC)
    settings = config.settings
    raw = RawStore(home)
    summary = ReextractSummary(EXTRACTOR)
    classifier = make_classifier(config.taxonomy)
    with Warehouse(warehouse_path) as wh, ExitStack() as stack:
        pool: WorkerPool | None = None
        batches = wh.articles_for_reextraction(since=since, feed=feed, batch_size=batch_size)
        for n, batch in enumerate(batches):
            summary.examined += len(batch)
            workers = extraction_workers(settings, len(batch))
            if pool is None and workers > 1:
                pool = stack.enter_context(
                    classifier_pool(classifier, workers, call_timeout_s=settings.extract_timeout_s)
                )
            rejected = wh.rejected_reextractions([s.article.article_id for s in batch], EXTRACTOR)
            summary.rejected_before += len(rejected)
            todo = [s for s in batch if s.article.article_id not in rejected]
            staged = _reextract_batch(todo, raw, settings.min_body_words, pool, summary)
            if not staged:
                continue
            run = RunFolder.of(home, f"reextract-{now:%Y%m%dT%H%M%S%f}-{n:04d}")
            try:
                stories = StoryParams.of(settings)
                _load(run, staged, classifier, workers, pool, wh, warehouse_path, home, now, summary, stories)
            finally:
                shutil.rmtree(run.path, ignore_errors=True)
    return summary


def _reextract_batch(
    batch: list[StoredArticle],
    raw: RawStore,
    min_body_words: int,
    pool: WorkerPool | None,
    summary: ReextractSummary,
) -> list[ItemOutcome]:
    """The outcomes to stage: one ``loaded`` outcome per article the current extractor changes."""

    def one(stored: StoredArticle) -> tuple[StoredArticle, Article | str | None]:
        a = stored.article
        if not a.raw_path or not (raw.root.parent / a.raw_path).is_file():
            return stored, None
        html = raw.get(a.raw_path)
        try:
            if pool is not None:
                return stored, pool.call(reextract, stored, html, min_body_words)
            return stored, reextract(stored, html, min_body_words)
        except (WorkerCrashed, WorkerTimeout) as exc:  # the page may be what kills extraction
            LOGGER.error("re-extraction failed on %s: %s", a.url, exc)
            return stored, f"extraction: {exc}"

    threads = max(1, 2 * (pool.workers if pool is not None else 1))
    with ThreadPoolExecutor(max_workers=threads) as ex:
        results = list(ex.map(one, batch))
    staged = []
    for stored, got in results:
        a = stored.article
        if got is None:
            summary.no_raw_html += 1
            _listed(summary.no_raw_html_list, a, a.raw_path or "no raw HTML was kept")
        elif isinstance(got, str):
            summary.kept += 1
            _listed(summary.kept_list, a, got)
        elif diff := changed(a, got):
            for name in diff:
                summary.changed_fields[name] = summary.changed_fields.get(name, 0) + 1
            staged.append(
                ItemOutcome(
                    item=stored.entry,
                    status="loaded",
                    article_id=got.article_id,
                    article=got,
                    attempts=stored.attempts,
                )
            )
        else:
            summary.unchanged += 1
    summary.staged += len(staged)
    return staged


def _listed(into: list[dict[str, str]], a: Article, reason: str) -> None:
    if len(into) < MAX_LISTED:
        into.append(
            {"article_id": a.article_id, "url": a.url, "fetched_at": a.fetched_at.isoformat(), "why": reason}
        )


def _load(
    run: RunFolder,
    staged: list[ItemOutcome],
    classifier: Classifier,
    workers: int,
    pool: WorkerPool | None,
    wh: Warehouse,
    warehouse_path: Path,
    home: Path,
    now: datetime,
    summary: ReextractSummary,
    stories: StoryParams,
) -> None:
    """One batch through the curate stages: classify, the quality gate, the load (one transaction)."""
    from newsflow.quality import ensure_project

    write_records(run.outcome_file("reextract"), ItemOutcome, staged)
    classify_runs([run.path], classifier, workers=workers, pool=pool)
    ensure_project(home)
    validate_runs([str(run.path)], home=home, topic_names=classifier.topics, now=now)
    # A rejected re-extraction leaves the stored article, so its item stays loaded: the load writes the
    # quarantine row (the rejected version, with its reasons) and not the item's "quarantined" status.
    validated = run.validated_file("outcomes")
    kept = [o for o in read_records(validated, ItemOutcome) if o.status != "quarantined"]
    write_records(validated, ItemOutcome, kept)
    load_runs([str(run.path)], warehouse=warehouse_path, writer=wh, now=now, stories=stories)
    marker = run.loaded()
    summary.articles_updated += marker["articles_updated"]
    summary.quarantined += (gate_verdict(run.path) or {}).get("quarantined", 0)
