"""The classification stage: score articles against the taxonomy and turn the scores into topic rows.

It opens no database; :meth:`newsflow.warehouse.Warehouse.store_topics` writes the rows (replacing any
other classifier version's rows for the same articles), so re-classifying after a taxonomy change needs no
refetch and running it twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from newsflow.models import Article, TopicRow
from newsflow.topics.classifier import Classifier
from newsflow.topics.taxonomy import load_taxonomy
from newsflow.workers import WorkerCrashed, WorkerPool, WorkerTimeout

LOGGER = logging.getLogger(__name__)
MIN_TEXTS_FOR_PROCESSES = 256  # fewer texts are scored sooner here than by workers started for them
MIN_TEXTS_FOR_POOL = 64  # workers already running (classifier_pool) pay off for smaller batches
_worker_classifier: Classifier | None = None


def make_classifier(taxonomy: str | Path | None = None) -> Classifier:
    """A classifier for the given taxonomy file (None: the packaged default)."""
    return Classifier(load_taxonomy(taxonomy))


def classifier_pool(
    classifier: Classifier, workers: int, *, call_timeout_s: float | None = None
) -> WorkerPool:
    """Worker processes that hold ``classifier``: pass it to :func:`classify_texts` (``pool=``) and use it for
    other work too (extraction), so one set of warm workers serves a whole cycle."""
    return WorkerPool(
        workers,
        name="classification",
        initializer=_set_worker_classifier,
        initargs=(classifier,),
        call_timeout_s=call_timeout_s,
    )


def classify_texts(
    texts: Iterable[tuple[str, str | None, str | None]],
    classifier: Classifier,
    *,
    workers: int = 1,
    pool: WorkerPool | None = None,
) -> list[TopicRow]:
    """Topic rows for ``(article_id, title, body)`` triples: one row per article and topic, in input order.

    With enough texts they are scored in worker processes: those of ``pool`` (made by :func:`classifier_pool`
    for this classifier, ``workers`` of them), or else ``workers`` (> 1) processes started for this call.
    """
    items = list(texts)
    if pool is not None and len(items) >= MIN_TEXTS_FOR_POOL:
        try:
            return _classify_in(pool, items, classifier, workers)
        except (WorkerCrashed, WorkerTimeout) as exc:  # workers kept dying: score here instead
            LOGGER.warning("worker pool failed (%s): classifying %d texts in this process", exc, len(items))
    if workers > 1 and len(items) >= MIN_TEXTS_FOR_PROCESSES:
        try:
            with classifier_pool(classifier, workers) as own:
                return _classify_in(own, items, classifier, workers)
        except (WorkerCrashed, WorkerTimeout) as exc:
            LOGGER.warning("worker pool failed (%s): classifying %d texts in this process", exc, len(items))
    rows = []
    for article_id, title, body in items:
        for score in classifier.classify(title, body):
            rows.append(
                TopicRow(
                    article_id=article_id,
                    topic=score.topic,
                    classifier_version=classifier.version,
                    score=round(score.score, 6),
                    assigned=score.assigned,
                    evidence=score.evidence,
                )
            )
    return rows


def _classify_in(
    pool: WorkerPool,
    items: Sequence[tuple[str, str | None, str | None]],
    classifier: Classifier,
    workers: int,
) -> list[TopicRow]:
    size = -(-len(items) // (max(workers, 1) * 4))  # a few chunks per worker evens out long articles
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    parts = pool.map(_classify_chunk, chunks, [classifier.version] * len(chunks))
    return [row for part in parts for row in part]


def _set_worker_classifier(classifier: Classifier) -> None:
    global _worker_classifier
    _worker_classifier = classifier


def _classify_chunk(texts: Sequence[tuple[str, str | None, str | None]], version: str) -> list[TopicRow]:
    if _worker_classifier is None or _worker_classifier.version != version:
        raise RuntimeError(f"this worker does not hold classifier {version} (use classifier_pool)")
    return classify_texts(texts, _worker_classifier)


def classify_articles(
    articles: Iterable[Article],
    classifier: Classifier,
    *,
    workers: int = 1,
    pool: WorkerPool | None = None,
) -> list[TopicRow]:
    """Topic rows for freshly extracted articles (once per article: two items may bring the same one)."""
    unique = {a.article_id: a for a in reversed(list(articles))}  # the first copy wins
    texts = ((a.article_id, a.title, a.body) for a in reversed(unique.values()))
    return classify_texts(texts, classifier, workers=workers, pool=pool)
