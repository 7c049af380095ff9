"""``newsflow reclassify`` and the ``news_reclassify`` DAG: re-score stored articles, no refetch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsflow.topics import classify_texts, make_classifier
from newsflow.warehouse import Warehouse


@dataclass
class ReclassifySummary:
    classifier_version: str
    articles: int = 0
    rows_written: int = 0
    rows_removed: int = 0


def reclassify(
    warehouse_path: Path, taxonomy: str | Path | None = None, batch_size: int = 5000
) -> ReclassifySummary:
    """Re-score every stored article with the current taxonomy, replacing other versions' rows.

    Idempotent (a second run with the same taxonomy writes nothing); each batch commits on its own, so an
    interrupted run resumes by running again.
    """
    classifier = make_classifier(taxonomy)
    summary = ReclassifySummary(classifier.version)
    with Warehouse(warehouse_path) as wh:
        for rows in wh.articles_for_classification(batch_size):
            stats = wh.store_topics(classify_texts(rows, classifier))
            summary.articles += len(rows)
            summary.rows_written += stats.topic_rows_written
            summary.rows_removed += stats.topic_rows_removed
        wh.publish()
    return summary
