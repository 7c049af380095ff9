"""Re-extraction: a stored article made again from its kept HTML by the current extractor, no refetch.

The article keeps its identity and provenance (id, URLs, feed, item, raw HTML, fetch time); what extraction
decides (text, title, author, site, date, language, the pass that won, the extractor) is made afresh. The
feed entry's own text is not kept, so an article whose body came from the feed is re-extracted against that
body as the entry's text.
"""

from __future__ import annotations

import dataclasses

from newsflow.articles.stage import build_outcome
from newsflow.models import ARTICLE_CHANGE_FIELDS, Article, FeedItem, StoredArticle


def entry_for(stored: StoredArticle) -> FeedItem:
    """The feed entry as extraction saw it, from the ledger and the stored article: the entry's author and
    declared language where the article has them from the entry, its text where the body is the entry's."""
    a = stored.article
    return dataclasses.replace(
        stored.entry,
        author=a.author,  # the page's byline wins over it, as on the first extraction
        language=a.language if a.language_source == "feed" else None,
        content=a.body if a.body_source == "feed_content" else None,
        summary=a.body if a.body_source == "feed_summary" else None,
        dated_by_update=a.date_source in ("feed_updated", "page") and stored.entry.published_at is not None,
    )


def reextract(stored: StoredArticle, html: bytes, min_body_words: int) -> Article | str:
    """The article as the current extractor makes it from ``html``, or why the stored one is kept."""
    a = stored.article
    outcome = build_outcome(
        entry_for(stored), a.url, a.http_status or 200, html, min_body_words, stored.attempts
    )
    new = outcome.article
    if new is None:
        return outcome.reason or "extraction: no text"
    if new.word_count < min_body_words <= a.word_count:
        return (
            f"extraction: the current extractor gives {new.word_count} words, under min_body_words "
            f"({min_body_words}); the stored {a.word_count} words are kept"
        )
    return dataclasses.replace(
        new,
        article_id=a.article_id,
        canonical_url=a.canonical_url,
        url=a.url,
        feed=a.feed,
        item_id=a.item_id,
        raw_path=a.raw_path,
        http_status=a.http_status,
        fetched_at=a.fetched_at,
    )


def changed(stored: Article, new: Article) -> list[str]:
    """The fields of :data:`~newsflow.models.ARTICLE_CHANGE_FIELDS` in which ``new`` differs from ``stored``
    (an article whose fields are all the same is left alone)."""
    return [f for f in ARTICLE_CHANGE_FIELDS if getattr(stored, f) != getattr(new, f)]
