"""The article stage: fetch new items' pages politely, extract them, fall back to feed text.

``fetch_articles`` opens no database (Airflow runs it in mapped tasks); every item comes back as an
:class:`ItemOutcome` that is either a loaded article or a failure with its reason.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Literal

from newsflow.articles.extraction import EXTRACTOR, choose_body, detect_language, extract_page
from newsflow.articles.journal import DownloadJournal
from newsflow.articles.rawstore import RawStore
from newsflow.config import Settings
from newsflow.models import NOT_FETCHED, Article, FeedItem, ItemOutcome, is_not_fetched
from newsflow.net import Fetcher, FetchError, Response, RobotsPolicy, policy_for
from newsflow.stories import story_signature
from newsflow.urls import article_id, canonical_url, is_http_url, same_site
from newsflow.workers import IN_PROCESS, WorkerCrashed, WorkerPool, WorkerTimeout, worker_count

LOGGER = logging.getLogger(__name__)
HTML_TYPES = ("text/html", "application/xhtml+xml", "")
MIN_ITEMS_FOR_PROCESSES = 16  # below this, starting worker processes costs more than it saves
IN_PROCESS_EXTRACTION = (
    IN_PROCESS  # one in-process extraction at a time (see newsflow.workers.pool.IN_PROCESS)
)


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


def download(
    item: FeedItem, fetcher: Fetcher, robots: RobotsPolicy | None, attempts: int = 1
) -> Response | ItemOutcome:
    """The item's page (a 200 HTML response), or the failed outcome saying why not. Network only."""
    if not item.link or not item.canonical_url:
        return _failed(item, f"entry has no absolute http(s) link: {str(item.link)[:200]!r}", False, attempts)
    try:
        if robots is not None:
            refusal = robots.check(item.link)
            if refusal is not None:
                return _failed(item, refusal[0], refusal[1], attempts)
        resp = fetcher.get(item.link, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"})
    except FetchError as exc:
        if exc.kind in ("budget", "deferred"):  # never requested: it uses up no attempt
            reason = f"{NOT_FETCHED}{exc.reason}; a later run fetches it before newer items"
            return _failed(item, reason, True, max(attempts - 1, 0))
        return _failed(item, f"fetch {exc.kind}: {exc.reason}", exc.retryable, attempts)
    if resp.status != 200:
        retryable = resp.status >= 500 or resp.status in (408, 429)
        return _failed(item, f"fetch http: HTTP {resp.status}", retryable, attempts)
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    if ctype not in HTML_TYPES:
        return _failed(item, f"unsupported content type {ctype!r}", False, attempts)
    return resp


def _publication_date(
    item: FeedItem, page_date: datetime | None
) -> tuple[datetime | None, Literal["feed", "page", "feed_updated"] | None]:
    """The entry's publication date; else the page's own date; else the entry's last-update date.

    An entry that gives only an update date (Atom's ``<updated>``, 80 of the 1,626 entries of the 53 real
    feeds in the shared corpus) may have been edited long after it was published: the page's original date
    (htmldate) is the better one.
    """
    if item.published_at is not None and not item.dated_by_update:
        return item.published_at, "feed"
    if page_date is not None:
        return page_date, "page"
    if item.published_at is not None:
        return item.published_at, "feed_updated"
    return None, None


def build_outcome(
    item: FeedItem, url: str, status: int, html: bytes, min_body_words: int, attempts: int = 1
) -> ItemOutcome:
    """Extract the page and build the article (CPU only, picklable: runs in a worker process)."""
    fetched_at = datetime.now(UTC)
    page = extract_page(html, url, need_date=item.published_at is None or item.dated_by_update)
    body = choose_body(page.text, item.content, item.summary, min_body_words)
    if body is None:
        return _failed(
            item, "extraction: no main text on the page and no text in the feed entry", False, attempts
        )
    canonical = _resolve_canonical(item, url, page.canonical_url)
    aid = article_id(canonical)
    # The page's own declaration first, then the feed's, then detection from the body.
    language, language_source = page.declared_language, "page"
    if not language:
        language, language_source = item.language, "feed"
    if not language:
        language, language_source = detect_language(body.text), "detected"
    published_at, date_source = _publication_date(item, page.page_date)
    article = Article(
        article_id=aid,
        canonical_url=canonical,
        url=url,
        feed=item.feed,
        item_id=item.item_id,
        title=page.title or item.title,
        author=page.author or item.author,
        site_name=page.site_name,
        published_at=published_at,
        language=language,
        language_source=language_source if language else None,
        body=body.text,
        body_source=body.source,
        word_count=body.word_count,
        body_hash=body.body_hash,
        raw_path=None,
        http_status=status,
        fetched_at=fetched_at,
        extractor=EXTRACTOR,
        extraction_path=page.path,
        date_source=date_source,
    )
    return ItemOutcome(
        item=item,
        status="loaded",
        article_id=aid,
        article=article,
        attempts=attempts,
        story_signature=story_signature(body.text, body.body_hash),
    )


def extraction_workers(settings: Settings, items: int) -> int:
    """Processes for extraction: ``extract_workers`` (0 = one per core); none for small batches."""
    return worker_count(settings, items, MIN_ITEMS_FOR_PROCESSES)


def extraction_pool(settings: Settings, workers: int) -> WorkerPool:
    """Worker processes for extraction, each call bounded by ``extract_timeout_s``."""
    return WorkerPool(workers, name="extraction", call_timeout_s=settings.extract_timeout_s)


def fetch_articles(
    items: Iterable[FeedItem],
    fetcher: Fetcher,
    settings: Settings,
    raw: RawStore | None,
    *,
    robots: RobotsPolicy | None = None,
    attempts: Mapping[str, int] | None = None,
    pool: WorkerPool | None = None,
    journal: DownloadJournal | None = None,
) -> list[ItemOutcome]:
    """Fetch many items concurrently (threads: per-host politeness is the fetcher's) and extract them in
    worker processes, one per core, so extraction is not bound to one core by the GIL: those of ``pool``
    when given (the caller's, kept running), else processes started for this call.

    With a ``journal``, every download (the page, or the failure that used an attempt) is kept as soon as it
    is made, and one already in it is not made again: a retried task refetches nothing.
    """
    items = list(items)
    if not items:
        return []
    if robots is None and settings.respect_robots:
        robots = policy_for(fetcher)
    attempts = attempts or {}
    own = None
    if pool is None and (workers := extraction_workers(settings, len(items))) > 1:
        pool = own = extraction_pool(settings, workers)

    def fetched(item: FeedItem, tries: int) -> Response | ItemOutcome:
        kept = journal.get(item, tries) if journal is not None else None
        if kept is not None:
            return kept
        got = download(item, fetcher, robots, tries)
        if journal is not None and not (isinstance(got, ItemOutcome) and is_not_fetched(got)):
            journal.put(item, got)
        return got

    def work(item: FeedItem) -> ItemOutcome:
        tries = attempts.get(item.item_id, 1)
        try:
            got = fetched(item, tries)
            if isinstance(got, ItemOutcome):
                return got
            args = (item, got.url, got.status, got.body, settings.min_body_words, tries)
            if pool is not None:
                try:
                    outcome = pool.call(build_outcome, *args)
                except (WorkerCrashed, WorkerTimeout) as exc:  # the page may be what kills extraction
                    LOGGER.error("extraction failed on %s: %s", item.link, exc)
                    return _failed(item, f"extraction: {exc}", True, tries)
            else:
                with IN_PROCESS_EXTRACTION:
                    outcome = build_outcome(*args)
            if outcome.article is not None and raw is not None:
                a = outcome.article
                stored = raw.put(a.article_id, a.body_hash, got.body, a.fetched_at)
                outcome = dataclasses.replace(outcome, article=dataclasses.replace(a, raw_path=stored))
            return outcome
        except Exception as exc:  # an extractor bug must not lose the item: record it
            LOGGER.exception("unexpected error on %s", item.link)
            return _failed(item, f"internal error: {type(exc).__name__}: {exc}", True, tries)

    try:
        with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(items))) as threads:
            return list(threads.map(work, items))
    finally:
        if own is not None:
            own.close()
