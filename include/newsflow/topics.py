"""The classification stage: score articles against the taxonomy and turn the scores into topic rows.

It opens no database; :meth:`newsflow.warehouse.Warehouse.store_topics` writes the rows (replacing any
other classifier version's rows for the same articles), so re-classifying after a taxonomy change needs no
refetch and running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from newsflow.classify import Classifier, load_taxonomy
from newsflow.models import Article, TopicRow
from newsflow.workers import worker_context

MIN_TEXTS_FOR_PROCESSES = 256  # measured break-even: ~180 articles (1.5 ms each; 2 workers start in 0.1 s)
_worker_classifier: Classifier | None = None


def make_classifier(taxonomy: str | Path | None = None) -> Classifier:
    """A classifier for the given taxonomy file (None: the packaged default)."""
    return Classifier(load_taxonomy(taxonomy))


def classify_texts(
    texts: Iterable[tuple[str, str | None, str | None]], classifier: Classifier, *, workers: int = 1
) -> list[TopicRow]:
    """Topic rows for ``(article_id, title, body)`` triples: one row per article and topic, in input order.

    With ``workers`` > 1 and enough texts, the texts are scored in that many worker processes.
    """
    items = list(texts)
    if workers > 1 and len(items) >= MIN_TEXTS_FOR_PROCESSES:
        size = -(-len(items) // (workers * 4))  # a few chunks per worker evens out long articles
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        with ProcessPoolExecutor(
            workers, mp_context=worker_context(), initializer=_set_worker_classifier, initargs=(classifier,)
        ) as pool:
            return [row for part in pool.map(_classify_chunk, chunks) for row in part]
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


def _set_worker_classifier(classifier: Classifier) -> None:
    global _worker_classifier
    _worker_classifier = classifier


def _classify_chunk(texts: Sequence[tuple[str, str | None, str | None]]) -> list[TopicRow]:
    assert _worker_classifier is not None, "worker started without a classifier"
    return classify_texts(texts, _worker_classifier)


def classify_articles(
    articles: Iterable[Article], classifier: Classifier, *, workers: int = 1
) -> list[TopicRow]:
    """Topic rows for freshly extracted articles (once per article: two items may bring the same one)."""
    unique = {a.article_id: a for a in reversed(list(articles))}  # the first copy wins
    texts = ((a.article_id, a.title, a.body) for a in reversed(unique.values()))
    return classify_texts(texts, classifier, workers=workers)
