"""Real feeds: 53 publishers' feeds parse to their manifest's counts; ill-formed feeds never crash a run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import CORPUS, need_shared
from newsflow.config import FeedConfig, Settings, default_settings_dict
from newsflow.feeds import FeedParseError, parse_feed
from newsflow.net import Fetcher, NetGuard
from newsflow.run import poll_feeds
from newsflow.sample import StaticSite

FEEDS = CORPUS / "feeds"
# Feeds whose entries repeat a GUID: the ledger keeps one item per (feed, guid), so fewer items than entries.
REPEATED_GUIDS = {"news/feedreader__Rss20LeFigaro.xml": 49, "news/nodefeedparser__illegally-nested.xml": 11}


def manifest(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(need_shared(FEEDS / name).open(encoding="utf-8")))


NEWS = [r for r in manifest("manifest.csv") if r["category"] == "news"] if FEEDS.exists() else []
ILLFORMED = manifest("illformed/manifest.csv") if FEEDS.exists() else []


def test_corpus_is_complete() -> None:
    need_shared(FEEDS)
    assert len(NEWS) == 53 and len(ILLFORMED) == 27


@pytest.mark.parametrize("row", NEWS, ids=lambda r: r["file"])
def test_news_feed_parses_to_manifest_count(row: dict[str, str]) -> None:
    parsed = parse_feed("f", (FEEDS / row["file"]).read_bytes(), "http://127.0.0.1/feed.xml")
    expected = int(row["item_count"] or 0)
    assert parsed.entries_total == expected
    assert len(parsed.items) == REPEATED_GUIDS.get(row["file"], expected)
    if row["bozo"] == "1":
        assert parsed.warning, "an ill-formed feed's problem is recorded"
    for item in parsed.items:
        assert item.item_id and item.entry_hash and item.feed == "f"


@pytest.mark.parametrize("row", ILLFORMED, ids=lambda r: r["file"])
def test_illformed_feed_is_handled(row: dict[str, str]) -> None:
    body = (FEEDS / "illformed" / row["file"]).read_bytes()
    try:
        parsed = parse_feed("f", body, "http://127.0.0.1/feed.xml")
    except FeedParseError as exc:
        assert int(row["fp_entries"] or 0) == 0 and "not a feed" in str(exc)
        return
    assert parsed.entries_total == int(row["fp_entries"] or 0)
    if row["fp_bozo_raw_parse"] == "1":
        assert parsed.warning


@pytest.mark.integration
def test_all_corpus_feeds_polled_over_http_in_one_run(tmp_path: Path) -> None:
    """80 feeds, good and broken, polled concurrently from a loopback server: each gets a result."""
    need_shared(FEEDS)
    files = [r["file"] for r in NEWS] + ["illformed/" + r["file"] for r in ILLFORMED]
    settings = Settings.model_validate({**default_settings_dict(), "per_host_min_delay_s": 0.0})
    with StaticSite(FEEDS) as site:
        feeds = [FeedConfig(name=f"f{n}", url=f"{site.base_url}/{path}") for n, path in enumerate(files)]
        with Fetcher(settings, NetGuard([f"127.0.0.1:{site.port}"])) as fetcher:
            results = poll_feeds(feeds, {}, fetcher, settings)
    assert len(results) == len(files)
    by_file = dict(zip(files, results, strict=True))
    for row in NEWS:
        r = by_file[row["file"]]
        assert r.status == "ok", (row["file"], r.error)
        assert len(r.items) == REPEATED_GUIDS.get(row["file"], int(row["item_count"] or 0))
    errors = {f: r.error for f, r in by_file.items() if r.status == "error"}
    assert all(e and e.startswith("parse: not a feed") for e in errors.values()), errors
    assert sum(len(r.items) for r in results) > 1000


def test_feed_language_reaches_items() -> None:
    need_shared(FEEDS)
    gv = parse_feed(
        "gv", (FEEDS / "news" / "mcbackend__globalvoices_test.rss").read_bytes(), "http://127.0.0.1/f"
    )
    assert {i.language for i in gv.items} == {"en"}
