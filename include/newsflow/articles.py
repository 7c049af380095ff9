"""The article stage: fetch new items' pages politely, extract them, fall back to feed text.

``fetch_articles`` opens no database (Airflow runs it in mapped tasks); every item comes back as an
:class:`ItemOutcome` that is either a loaded article or a failure with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from newsflow.config import Settings
from newsflow.extraction import EXTRACTOR, choose_body, detect_language, extract_page
from newsflow.fetcher import Fetcher, FetchError
from newsflow.models import Article, FeedItem, ItemOutcome
from newsflow.rawstore import RawStore
from newsflow.robots import RobotsPolicy, policy_for
from newsflow.urls import article_id, canonical_url, is_http_url, same_site

LOGGER = logging.getLogger(__name__)
HTML_TYPES = ("text/html", "application/xhtml+xml", "")


def _failed(item: FeedItem, reason: str, retryable: bool, attempts: int) -> ItemOutcome:
    return ItemOutcome(item=item, status="failed", reason=reason, retryable=retryable, attempts=attempts)


def _resolve_canonical(item: FeedItem, final_url: str, page_canonical: str | None) -> str:
    """The page's own canonical URL when it names the same site, else the URL we ended up at."""
    if page_canonical and is_http_url(page_canonical) and same_site(page_canonical, final_url):
        try:
            return canonical_url(page_canonical)
        except ValueError:
            pass
    try:
        return canonical_url(final_url)
    except ValueError:
        assert item.canonical_url is not None
        return item.canonical_url


def fetch_one(
    item: FeedItem,
    fetcher: Fetcher,
    robots: RobotsPolicy | None,
    settings: Settings,
    raw: RawStore | None,
    attempts: int = 1,
) -> ItemOutcome:
    """Fetch, extract and build the article for one item; never raises for bad input."""
    if not item.link or not item.canonical_url:
        return _failed(item, f"entry has no absolute http(s) link: {str(item.link)[:200]!r}", False, attempts)
    try:
        if robots is not None:
            refusal = robots.check(item.link)
            if refusal is not None:
                return _failed(item, refusal[0], refusal[1], attempts)
        resp = fetcher.get(item.link, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"})
    except FetchError as exc:
        return _failed(item, f"fetch {exc.kind}: {exc.reason}", exc.retryable, attempts)
    if resp.status != 200:
        retryable = resp.status >= 500 or resp.status in (408, 429)
        return _failed(item, f"fetch http: HTTP {resp.status}", retryable, attempts)
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    if ctype not in HTML_TYPES:
        return _failed(item, f"unsupported content type {ctype!r}", False, attempts)
    fetched_at = datetime.now(UTC)
    page = extract_page(resp.body, resp.url)
    body = choose_body(page.text, item.content, item.summary, settings.min_body_words)
    if body is None:
        return _failed(
            item, "extraction: no main text on the page and no text in the feed entry", False, attempts
        )
    canonical = _resolve_canonical(item, resp.url, page.canonical_url)
    aid = article_id(canonical)
    # The page's own declaration first, then the feed's, then detection from the body.
    language, language_source = page.declared_language, "page"
    if not language:
        language, language_source = item.language, "feed"
    if not language:
        language, language_source = detect_language(body.text), "detected"
    raw_path = raw.put(aid, body.body_hash, resp.body, fetched_at) if raw is not None else None
    article = Article(
        article_id=aid,
        canonical_url=canonical,
        url=resp.url,
        feed=item.feed,
        item_id=item.item_id,
        title=page.title or item.title,
        author=page.author or item.author,
        site_name=page.site_name,
        published_at=item.published_at or page.page_date,
        language=language,
        language_source=language_source if language else None,
        body=body.text,
        body_source=body.source,
        word_count=body.word_count,
        body_hash=body.body_hash,
        raw_path=raw_path,
        http_status=resp.status,
        fetched_at=fetched_at,
        extractor=EXTRACTOR,
    )
    return ItemOutcome(item=item, status="loaded", article_id=aid, article=article, attempts=attempts)


def fetch_articles(
    items: Iterable[FeedItem],
    fetcher: Fetcher,
    settings: Settings,
    raw: RawStore | None,
    *,
    robots: RobotsPolicy | None = None,
    attempts: Mapping[str, int] | None = None,
) -> list[ItemOutcome]:
    """Fetch and extract many items concurrently (per-host politeness is the fetcher's)."""
    items = list(items)
    if robots is None and settings.respect_robots:
        robots = policy_for(fetcher)
    attempts = attempts or {}

    def work(item: FeedItem) -> ItemOutcome:
        try:
            return fetch_one(item, fetcher, robots, settings, raw, attempts.get(item.item_id, 1))
        except Exception as exc:  # an extractor bug must not lose the item: record it
            LOGGER.exception("unexpected error on %s", item.link)
            return _failed(
                item, f"internal error: {type(exc).__name__}: {exc}", True, attempts.get(item.item_id, 1)
            )

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(items))) as pool:
        return list(pool.map(work, items))
