"""``newsflow reextract``: stored articles re-extracted from their kept raw HTML, through the gate and the one
writer's load; idempotent; articles without raw HTML counted and listed; rejected versions quarantined while
the stored article and its ledger row stay."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsflow.articles import EXTRACTOR
from newsflow.cli import main
from newsflow.config import FeedsFile, load_feeds_file
from newsflow.run import reextract_articles, run_cycle
from newsflow.sample import SAMPLE_SITE, StaticSite
from newsflow.warehouse import Warehouse

ARTICLES = (
    "SELECT article_id, body_hash, title, published_at, extractor, extraction_path, date_source FROM articles"
)


EXTRA = 12
"""Pages added to the sample site's twelve, so a batch is big enough for worker processes."""


def site_folder(tmp: Path) -> Path:
    """The sample site, plus a feed of ``EXTRA`` more pages (a page per city's council story)."""
    root = tmp / "site"
    shutil.copytree(SAMPLE_SITE, root)
    entries = []
    for n in range(EXTRA):
        paragraphs = "".join(
            f"<p>Councillors in district {n} voted on item {k} of the plan on Tuesday, after residents of "
            f"ward {n * 7 + k} asked for longer library hours and {k + 2} new bus stops near the market.</p>"
            for k in range(8)
        )
        (root / "articles" / f"council-{n}.html").write_text(
            f"<html lang='en'><head><title>Council story {n}</title></head><body><nav><a href='/'>Home</a>"
            f"</nav><article><h1>Council story {n}</h1>{paragraphs}</article><footer>Copyright</footer>"
            "</body></html>"
        )
        entries.append(
            f"<item><title>Council story {n}</title><link>{{{{BASE_URL}}}}/articles/council-{n}.html</link>"
            f"<guid>council-{n}</guid><pubDate>Wed, 25 Nov 2026 10:{n:02d}:00 GMT</pubDate></item>"
        )
    (root / "feeds" / "local.xml").write_text(
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Local</title>"
        + "".join(entries)
        + "</channel></rss>"
    )
    return root


LEDGER = "SELECT item_id, status, reason, article_id, attempts, entry_hash FROM items ORDER BY item_id"


def feeds(tmp: Path, site: StaticSite) -> FeedsFile:
    path = tmp / "feeds.yaml"
    names = {"world": "world.xml", "americas": "americas.atom", "briefs": "briefs.rdf", "local": "local.xml"}
    path.write_text(
        f"allow_hosts: ['127.0.0.1:{site.port}']\nfeeds:\n"
        + "".join(f"  - {{name: {n}, url: '{site.base_url}/feeds/{f}'}}\n" for n, f in names.items())
        + "settings: {per_host_min_delay_s: 0}\n"
    )
    return load_feeds_file(path)


def rows(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with Warehouse(warehouse, read_only=True) as wh:
        return wh.query(sql)[1]


@pytest.fixture
def loaded(tmp_path: Path, home: Path) -> tuple[FeedsFile, Path, dict[str, tuple[Any, ...]]]:
    """A warehouse loaded by one real cycle over the sample site (pages served on loopback)."""
    with StaticSite(site_folder(tmp_path), port=0) as site:
        cfg = feeds(tmp_path, site)
        warehouse = home / "warehouse.duckdb"
        summary = run_cycle(cfg, warehouse, home=home, force=True)
    assert summary.load.articles_inserted >= 16  # enough to re-extract in worker processes
    return cfg, warehouse, {r[0]: r for r in rows(warehouse, ARTICLES)}


def test_reextract_restores_what_an_older_extractor_lost_and_a_second_run_changes_nothing(
    loaded: tuple[FeedsFile, Path, dict[str, tuple[Any, ...]]], home: Path
) -> None:
    cfg, warehouse, before = loaded
    ids = sorted(before)
    older, gone = ids[:3], ids[3]
    with Warehouse(warehouse) as wh:  # what an older extractor stored: a fragment, no provenance
        wh.con.execute(
            "UPDATE articles SET body = 'A fragment of the story.', body_hash = 'old', word_count = 5, "
            "extractor = 'trafilatura-2.3.1', extraction_path = NULL "
            "WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
            [older],
        )
        (raw_path,) = wh.con.execute("SELECT raw_path FROM articles WHERE article_id = ?", [gone]).fetchone()
    (home / raw_path).unlink()  # past retention
    ledger = rows(warehouse, LEDGER)

    summary = reextract_articles(cfg, warehouse, home=home)
    assert summary.extractor == EXTRACTOR
    assert (summary.examined, summary.staged, summary.articles_updated) == (len(ids), 3, 3)
    assert summary.unchanged == len(ids) - 4 and summary.kept == summary.quarantined == 0
    assert summary.no_raw_html == 1 and summary.no_raw_html_list[0]["article_id"] == gone
    assert summary.changed_fields["body_hash"] == 3 and summary.changed_fields["extractor"] == 3
    after = {r[0]: r for r in rows(warehouse, ARTICLES)}
    assert after == before  # the three are as the current extractor first made them, the rest untouched
    versions = dict(rows(warehouse, "SELECT article_id, version FROM articles"))
    assert {a: v for a, v in versions.items() if v != 1} == {a: 2 for a in older}
    assert rows(warehouse, "SELECT count(*) FROM v_ledger_violations") == [(0,)]
    assert rows(warehouse, LEDGER) == ledger
    scored = rows(warehouse, "SELECT count(DISTINCT article_id) FROM article_topics")
    assert scored == [(len(ids),)]
    with Warehouse(home / "warehouse.published.duckdb", read_only=True) as snapshot:  # republished
        assert snapshot.query("SELECT count(*) FROM articles WHERE body_hash = 'old'")[1] == [(0,)]

    again = reextract_articles(cfg, warehouse, home=home)
    assert (again.staged, again.articles_updated, again.unchanged) == (0, 0, len(ids) - 1)
    assert dict(rows(warehouse, "SELECT article_id, version FROM articles")) == versions


def test_reextract_selects_by_feed_and_fetch_time(
    loaded: tuple[FeedsFile, Path, dict[str, tuple[Any, ...]]], home: Path
) -> None:
    cfg, warehouse, before = loaded
    world = rows(warehouse, "SELECT count(*) FROM articles WHERE feed = 'world'")[0][0]
    assert 0 < world < len(before)
    assert reextract_articles(cfg, warehouse, home=home, feed="world").examined == world
    later = datetime.now(UTC) + timedelta(days=1)
    assert reextract_articles(cfg, warehouse, home=home, since=later).examined == 0
    earlier = datetime.now(UTC) - timedelta(days=1)
    assert reextract_articles(cfg, warehouse, home=home, since=earlier).examined == len(before)


def test_a_rejected_reextraction_is_quarantined_and_the_stored_article_stays(
    loaded: tuple[FeedsFile, Path, dict[str, tuple[Any, ...]]], home: Path
) -> None:
    """The ledger's entry date is what the re-extraction takes; set in the future, the gate rejects it."""
    cfg, warehouse, before = loaded
    # an article dated by its entry's publication date (an entry with only an update date takes the page's)
    victim = min(a for a, row in before.items() if row[6] == "feed")
    with Warehouse(warehouse) as wh:
        wh.con.execute(
            "UPDATE items SET published_at = TIMESTAMPTZ '2099-12-25 10:00:00+00' WHERE article_id = ?",
            [victim],
        )
    summary = reextract_articles(cfg, warehouse, home=home)
    assert (summary.staged, summary.quarantined, summary.articles_updated) == (1, 1, 0)
    assert {r[0]: r for r in rows(warehouse, ARTICLES)} == before  # nothing of the rejected version loaded
    assert rows(warehouse, f"SELECT status FROM items WHERE article_id = '{victim}'") == [("loaded",)]
    (reasons,) = rows(warehouse, f"SELECT reasons FROM quarantine WHERE article_id = '{victim}'")
    assert any("published_at_not_future" in r for r in reasons[0])
    assert rows(warehouse, "SELECT count(*) FROM v_ledger_violations") == [(0,)]
    again = reextract_articles(cfg, warehouse, home=home)  # the same extractor would make it again
    assert (again.staged, again.rejected_before) == (0, 1)
    assert rows(warehouse, "SELECT count(*) FROM quarantine") == [(1,)]


def test_the_cli_lists_what_it_could_not_reextract(
    loaded: tuple[FeedsFile, Path, dict[str, tuple[Any, ...]]],
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cfg, warehouse, before = loaded
    feeds_file = str(tmp_path / "feeds.yaml")
    for raw in (home / "raw").rglob("*.html.gz"):
        raw.unlink()
    code = main(["reextract", "--warehouse", str(warehouse), "--feeds", feeds_file, "--since", "2000-01-01"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{len(before)} not re-extracted: their raw HTML is gone" in out
    assert out.count("  ... and ") == 1 and "--list" in out  # ten listed, the rest counted
    main(["reextract", "--warehouse", str(warehouse), "--feeds", feeds_file, "--list"])
    listed = capsys.readouterr().out
    assert all(a in listed for a in before)
    assert main(["check", "--warehouse", str(warehouse)]) == 0
