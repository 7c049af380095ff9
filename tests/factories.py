"""Realistic records for warehouse tests: hex ids and hashes as the pipeline makes them, so the records also
pass the data-quality suite."""

from __future__ import annotations

from datetime import UTC, datetime

from newsflow.models import Article, FeedItem, ItemOutcome
from newsflow.urls import article_id, canonical_url, stable_id

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def feed_item(
    guid: str,
    link: str,
    *,
    feed: str = "f",
    title: str | None = None,
    author: str | None = None,
    entry_hash: str | None = None,
) -> FeedItem:
    """A feed entry as the poller would record it (``item_id`` from feed and guid)."""
    return FeedItem(
        item_id=stable_id(feed, guid),
        feed=feed,
        guid=guid,
        link=link,
        canonical_url=canonical_url(link),
        title=title,
        summary="A summary.",
        content=None,
        author=author,
        published_at=NOW,
        entry_hash=entry_hash or stable_id(guid, length=32),
    )


def loaded(
    item: FeedItem, body: str, *, body_hash: str | None = None, author: str | None = None
) -> ItemOutcome:
    """The item's article, extracted and ready to load."""
    assert item.canonical_url and item.link
    art = Article(
        article_id=article_id(item.canonical_url),
        canonical_url=item.canonical_url,
        url=item.link,
        feed=item.feed,
        item_id=item.item_id,
        title=item.title,
        author=author,
        site_name="News",
        published_at=NOW,
        language="en",
        language_source="page",
        body=body,
        body_source="extracted",
        word_count=len(body.split()),
        body_hash=body_hash or stable_id(body, length=32),
        raw_path=None,
        http_status=200,
        fetched_at=NOW,
        extractor="test",
        extraction_path="precision",
        date_source="feed",
    )
    return ItemOutcome(item=item, status="loaded", article_id=art.article_id, article=art)


ARTICLE_PAGE = b"<html><body><article><p>" + b"Words of the story. " * 50 + b"</p></article></body></html>"
"""A page with enough text to load as an extracted article."""


def rss_of(links: list[str]) -> bytes:
    """An RSS feed listing ``links`` (each its own title and guid)."""
    items = "".join(f"<item><title>{u}</title><link>{u}</link><guid>{u}</guid></item>" for u in links)
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>{items}</channel></rss>".encode()
    )
