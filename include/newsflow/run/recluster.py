"""``newsflow recluster`` and the ``news_recluster`` DAG: rebuild every story after a change of the story
thresholds (or for articles loaded before stories existed), from the stored signatures, without refetching."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsflow.config import Settings
from newsflow.run.curate import story_params
from newsflow.warehouse import Warehouse


@dataclass
class ReclusterSummary:
    articles: int = 0
    stories: int = 0
    copies: int = 0
    """Articles in a story begun by another article."""


def recluster(warehouse_path: Path, settings: Settings, batch_size: int = 5000) -> ReclusterSummary:
    """Rebuild every story with the settings' thresholds in one transaction, then republish the snapshot.

    Idempotent: with unchanged thresholds the stories come out the same."""
    with Warehouse(warehouse_path) as wh:
        articles = wh.recluster(story_params(settings), batch_size)
        ((stories, copies),) = wh.query(
            "SELECT count(DISTINCT story_id), count(*) FILTER (WHERE story_id <> article_id) FROM articles"
        )[1]
        wh.publish()
    return ReclusterSummary(articles, stories, copies)
