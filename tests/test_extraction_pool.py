"""Extraction in worker processes gives exactly what in-process extraction gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from newsflow.articles import RawStore, extraction_workers, fetch_articles
from newsflow.config import Settings, default_settings_dict
from newsflow.models import FeedItem
from newsflow.net import Fetcher, NetGuard
from newsflow.sample import SAMPLE_SITE, StaticSite
from newsflow.urls import canonical_url

pytestmark = pytest.mark.integration


def settings(workers: int) -> Settings:
    return Settings.model_validate(
        {**default_settings_dict(), "per_host_min_delay_s": 0, "extract_workers": workers}
    )


def feed_items(links: list[str]) -> list[FeedItem]:
    """Bare feed entries for ``links`` (no feed text, no date: the page gives everything)."""
    return [
        FeedItem(
            item_id=f"i{n}",
            feed="f",
            guid=str(n),
            link=u,
            canonical_url=canonical_url(u),
            title=None,
            summary=None,
            content=None,
            author=None,
            published_at=None,
            entry_hash="h",
        )
        for n, u in enumerate(links)
    ]


def test_process_pool_matches_in_process(tmp_path: Path) -> None:
    pages = sorted(p.name for p in (SAMPLE_SITE / "articles").glob("*.html"))
    with StaticSite(port=0) as site:
        items = feed_items([f"{site.base_url}/articles/{name}?copy={n}" for n in range(2) for name in pages])
        assert extraction_workers(settings(2), len(items)) == 2
        assert extraction_workers(settings(1), len(items)) == 1
        results = {}
        for workers in (1, 2):
            with Fetcher(settings(workers), NetGuard([f"127.0.0.1:{site.port}"])) as f:
                results[workers] = fetch_articles(
                    items, f, settings(workers), RawStore(tmp_path / str(workers))
                )

    def comparable(outcomes):  # type: ignore[no-untyped-def]
        return [dataclasses.replace(o.article, fetched_at=None, raw_path=None) for o in outcomes]

    assert all(o.status == "loaded" for o in results[2]) and len(results[2]) == len(items)
    assert comparable(results[1]) == comparable(results[2])
    assert all(o.article and o.article.raw_path for o in results[2])  # raw HTML kept by the parent


def test_in_process_extraction_runs_one_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetch threads download concurrently but extract one page at a time in-process: two trafilatura calls
    at once in one process crashed the interpreter (a segmentation fault inside lxml)."""
    import threading
    import time

    import newsflow.articles.stage as articles

    active, peak, guard = [0], [0], threading.Lock()
    real = articles.build_outcome

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)  # give the other fetch threads every chance to overlap
        try:
            return real(*args, **kwargs)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(articles, "build_outcome", watched)
    pages = sorted(p.name for p in (SAMPLE_SITE / "articles").glob("*.html"))
    with StaticSite(port=0) as site:
        items = feed_items([f"{site.base_url}/articles/{name}" for name in pages])
        assert len(items) < articles.MIN_ITEMS_FOR_PROCESSES  # the in-process path
        with Fetcher(settings(2), NetGuard([f"127.0.0.1:{site.port}"])) as f:
            outcomes = fetch_articles(items, f, settings(2), RawStore(tmp_path))
    assert [o.status for o in outcomes] == ["loaded"] * len(items)
    assert peak[0] == 1


def test_a_callers_pool_does_the_extraction_and_stays_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the caller's worker pool (``newsflow run`` passes one that then classifies), even a small batch
    is extracted there, with the same result, and the pool is left running for the caller."""
    import newsflow.articles.stage as articles
    from newsflow.topics.stage import MIN_TEXTS_FOR_POOL, classifier_pool, classify_texts, make_classifier

    in_process: list[int] = []

    lock = articles.IN_PROCESS_EXTRACTION

    class Counted:  # the real lock, counted: in-process extractions must still run one at a time
        def __enter__(self) -> None:
            lock.acquire()
            in_process.append(1)

        def __exit__(self, *exc: object) -> None:
            lock.release()

    pages = sorted(p.name for p in (SAMPLE_SITE / "articles").glob("*.html"))
    clf = make_classifier()
    with StaticSite(port=0) as site:
        items = feed_items([f"{site.base_url}/articles/{name}" for name in pages])
        assert len(items) < articles.MIN_ITEMS_FOR_PROCESSES  # alone, this batch would stay in-process
        with Fetcher(settings(2), NetGuard([f"127.0.0.1:{site.port}"])) as f:
            monkeypatch.setattr(articles, "IN_PROCESS_EXTRACTION", Counted())
            alone = fetch_articles(items, f, settings(2), RawStore(tmp_path / "alone"))
            assert len(in_process) == len(items)
            in_process.clear()
            with classifier_pool(clf, 2) as pool:
                pooled = fetch_articles(items, f, settings(2), RawStore(tmp_path / "pooled"), pool=pool)
                texts = [
                    (f"{n:016x}", o.article.title, o.article.body)
                    for n, o in enumerate(pooled * MIN_TEXTS_FOR_POOL)
                    if o.article
                ]
                assert len(texts) >= MIN_TEXTS_FOR_POOL
                topics = classify_texts(texts, clf, workers=2, pool=pool)  # the pool is still open
    assert in_process == []  # no page was extracted in this process

    def comparable(outcomes):  # type: ignore[no-untyped-def]
        return [dataclasses.replace(o.article, fetched_at=None, raw_path=None) for o in outcomes]

    assert [o.status for o in pooled] == ["loaded"] * len(items)
    assert comparable(pooled) == comparable(alone)
    assert topics == classify_texts(texts, clf)


def test_a_page_that_kills_its_worker_is_recorded_failed_and_the_rest_load(tmp_path: Path) -> None:
    """Every item ends with an outcome even when extraction crashes its worker process on one page."""
    from newsflow.workers import WorkerCrashed, WorkerPool

    class KilledOn(WorkerPool):  # the pool's verdict on a page that killed two workers, without the kills
        def call(self, fn, *args):  # type: ignore[no-untyped-def]
            if args[1].endswith("?copy=0"):
                raise WorkerCrashed("the extraction process running this call died twice")
            return fn(*args)

    pages = sorted(p.name for p in (SAMPLE_SITE / "articles").glob("*.html"))
    with StaticSite(port=0) as site:
        items = feed_items([f"{site.base_url}/articles/{pages[0]}?copy={n}" for n in range(3)])
        with Fetcher(settings(2), NetGuard([f"127.0.0.1:{site.port}"])) as f:
            outcomes = fetch_articles(items, f, settings(2), RawStore(tmp_path), pool=KilledOn(2))
    assert [o.status for o in outcomes] == ["failed", "loaded", "loaded"]
    assert outcomes[0].retryable
    assert (outcomes[0].reason or "").startswith("extraction: the extraction process")
