"""The classification stage: score articles against the taxonomy and turn the scores into topic rows.

It opens no database; :meth:`newsflow.warehouse.Warehouse.store_topics` writes the rows (replacing any
other classifier version's rows for the same articles), so re-classifying after a taxonomy change needs no
refetch and running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from newsflow.classify import Classifier, load_taxonomy
from newsflow.models import Article, TopicRow


def make_classifier(taxonomy: str | Path | None = None) -> Classifier:
    """A classifier for the given taxonomy file (None: the packaged default)."""
    return Classifier(load_taxonomy(taxonomy))


def classify_texts(
    texts: Iterable[tuple[str, str | None, str | None]], classifier: Classifier
) -> list[TopicRow]:
    """Topic rows for ``(article_id, title, body)`` triples: one row per article and topic."""
    rows = []
    for article_id, title, body in texts:
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


def classify_articles(articles: Iterable[Article], classifier: Classifier) -> list[TopicRow]:
    """Topic rows for freshly extracted articles (once per article: two items may bring the same one)."""
    unique = {a.article_id: a for a in reversed(list(articles))}  # the first copy wins
    return classify_texts(((a.article_id, a.title, a.body) for a in reversed(unique.values())), classifier)
