"""The warehouse against a real DuckDB file: migrations, idempotent and atomic loads, the ledger."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factories import loaded as loaded_outcome
from newsflow.config import FeedConfig
from newsflow.models import (
    Article,
    Batch,
    FeedItem,
    HostPause,
    ItemOutcome,
    PollResult,
    is_not_fetched,
)
from newsflow.run import select_due
from newsflow.urls import canonical_url, host_key
from newsflow.warehouse import Warehouse, WarehouseError, migrations

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_item(n: int, feed: str = "f", url: str | None = None) -> FeedItem:
    link = url or f"https://news.example/story-{n}.html"
    return FeedItem(
        item_id=f"{feed}-item-{n}",
        feed=feed,
        guid=f"g{n}",
        link=link,
        canonical_url=canonical_url(link),
        title=f"Story {n}",
        summary="s",
        content=None,
        author=None,
        published_at=NOW,
        entry_hash=f"h{n}",
    )


def make_article(item: FeedItem, body: str = "Body text of the story.") -> Article:
    article = loaded_outcome(item, body, body_hash=str(hash(body))).article
    assert article is not None
    return article


def poll(feed: str, items: list[FeedItem], poll_id: str = "p1") -> PollResult:
    return PollResult(
        poll_id=poll_id,
        feed=feed,
        url=f"https://news.example/{feed}.xml",
        started_at=NOW,
        duration_s=0.1,
        status="ok",
        http_status=200,
        bytes=100,
        items=tuple(items),
    )


def loaded(item: FeedItem, body: str = "Body text of the story.") -> ItemOutcome:
    art = make_article(item, body)
    return ItemOutcome(item=item, status="loaded", article_id=art.article_id, article=art)


def snapshot(wh: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    return {
        t: wh.query(f"SELECT * FROM {t} ORDER BY ALL")[1]
        for t in ("feeds", "feed_polls", "items", "articles")
    }


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "w.duckdb")
    yield w
    w.close()


def test_migrations_apply_once_and_record_version(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    latest = migrations()[-1][0]
    with Warehouse(path) as w:
        assert w.schema_version() == latest
        assert w.migrate() == []
        tables = {r[0] for r in w.query("SELECT table_name FROM information_schema.tables")[1]}
    assert {
        "feeds",
        "feed_polls",
        "items",
        "articles",
        "article_topics",
        "quarantine",
        "v_articles",
        "schema_migrations",
    } <= tables


def test_v_articles_contract(wh: Warehouse) -> None:
    cols = wh.query("SELECT * FROM v_articles LIMIT 0")[0]
    assert {"article_id", "url", "title", "body", "language", "published_at", "feed", "topics"} <= set(cols)


def test_load_is_idempotent(wh: Warehouse) -> None:
    items = [make_item(n) for n in range(3)]
    batch = Batch(polls=[poll("f", items)], outcomes=[loaded(i) for i in items])
    first = wh.load_batch(batch, now=NOW)
    assert first.articles_inserted == 3 and first.items_new == 3
    before = snapshot(wh)
    again = wh.load_batch(batch, now=datetime(2026, 11, 28, tzinfo=UTC))
    assert again.articles_inserted == again.articles_updated == again.items_new == again.items_updated == 0
    assert snapshot(wh) == before
    assert wh.ledger_violations() == []


def test_correction_updates_the_row(wh: Warehouse) -> None:
    it = make_item(1)
    wh.load_batch(Batch(polls=[poll("f", [it])], outcomes=[loaded(it)]), now=NOW)
    edited = dataclasses.replace(it, entry_hash="h1-edited")
    later = datetime(2026, 11, 28, tzinfo=UTC)
    stats = wh.load_batch(
        Batch(polls=[poll("f", [edited], "p2")], outcomes=[loaded(edited, "Corrected body.")]), now=later
    )
    assert stats.articles_updated == 1 and stats.articles_inserted == 0
    row = wh.query("SELECT body, version, updated_at, first_loaded_at FROM articles")[1]
    assert row == [("Corrected body.", 2, later, NOW)]
    assert wh.query("SELECT count(*), max(entry_hash) FROM items")[1] == [(1, "h1-edited")]
    assert wh.ledger_violations() == []


def test_a_failed_refetch_never_undoes_a_load(wh: Warehouse) -> None:
    """A correction's refetch that failed, or a retry a second staged run made before the first run's success
    was loaded: the item keeps its article, and an edited entry keeps its old hash (to be fetched again)."""
    it = make_item(1)
    wh.load_batch(Batch(polls=[poll("f", [it])], outcomes=[loaded(it)]), now=NOW)
    edited = dataclasses.replace(it, entry_hash="h1-edited")
    failed = ItemOutcome(item=edited, status="failed", reason="HTTP 503", retryable=True, attempts=2)
    stats = wh.load_batch(Batch(polls=[poll("f", [edited], "p2")], outcomes=[failed]), now=NOW)
    assert stats.failed == 1 and stats.items_updated == 0
    row = wh.query("SELECT status, article_id IS NOT NULL, entry_hash, attempts FROM items")[1]
    assert row == [("loaded", True, "h1", 1)]
    assert [i.item_id for i in wh.plan([poll("f", [edited], "p3")], 3).to_fetch] == [it.item_id]
    assert wh.ledger_violations() == []


def test_same_article_from_two_items_is_a_duplicate(wh: Warehouse) -> None:
    a = make_item(1, feed="a", url="https://news.example/x.html?utm_source=a")
    b = make_item(1, feed="b", url="https://news.example/x.html")
    stats = wh.load_batch(
        Batch(polls=[poll("a", [a], "pa"), poll("b", [b], "pb")], outcomes=[loaded(a), loaded(b)]), now=NOW
    )
    assert (stats.loaded, stats.duplicate, stats.articles_inserted) == (1, 1, 1)
    rows = wh.query("SELECT feed, status, article_id, reason FROM items ORDER BY feed")[1]
    assert rows[0][1] == "loaded" and rows[1][1] == "duplicate" and rows[0][2] == rows[1][2]
    assert "a-item-1" in rows[1][3]
    assert wh.ledger_violations() == []


def test_plan_skips_known_refetches_edited_and_retries_failures(wh: Warehouse) -> None:
    ok, failing, gone = make_item(1), make_item(2), make_item(3)
    outcomes = [
        loaded(ok),
        ItemOutcome(item=failing, status="failed", reason="fetch timeout", retryable=True),
        ItemOutcome(item=gone, status="failed", reason="HTTP 404", retryable=False),
    ]
    wh.load_batch(Batch(polls=[poll("f", [ok, failing, gone])], outcomes=outcomes), now=NOW)
    other = make_item(9, feed="g", url="https://news.example/story-1.html")  # ok's URL in another feed
    fresh = make_item(4)
    edited = dataclasses.replace(ok, entry_hash="changed")
    plan = wh.plan([poll("f", [ok, failing, gone, fresh], "p2"), poll("g", [other], "p3")], max_attempts=3)
    assert [i.item_id for i in plan.to_fetch] == [failing.item_id, fresh.item_id]
    assert plan.attempts == {failing.item_id: 2}
    assert [d.item.item_id for d in plan.duplicates] == [other.item_id]
    assert plan.known_unchanged == 2
    # The retryable failure is retried from the ledger even when the feed no longer lists it (first).
    assert [i.item_id for i in wh.plan([poll("f", [edited], "p4")], 3).to_fetch] == [
        failing.item_id,
        ok.item_id,
    ]
    assert wh.plan([poll("f", [failing], "p5")], max_attempts=1).to_fetch == []  # attempts exhausted
    unchanged = dataclasses.replace(poll("f", [], "p6"), status="not_modified", http_status=304)
    retry = wh.plan([unchanged], max_attempts=3)
    assert retry.to_fetch == [failing]  # with the entry's own text, kept for the retry
    assert retry.attempts == {failing.item_id: 2}
    down = dataclasses.replace(unchanged, status="error", http_status=500, error="HTTP 500")
    assert wh.plan([down], max_attempts=3).to_fetch == []  # the feed's host may be down: wait
    assert wh.plan([dataclasses.replace(unchanged, feed="g")], max_attempts=3).to_fetch == []  # f's item
    # Items an earlier staged run fetched, still to be loaded, are left to it, unless edited since.
    staged = {fresh.item_id: fresh.entry_hash, failing.item_id: failing.entry_hash}
    waiting = wh.plan([poll("f", [fresh], "p7")], 3, in_flight=staged)
    assert waiting.to_fetch == [] and waiting.known_unchanged == 1  # the retry is in flight too
    fresh_edit = dataclasses.replace(fresh, entry_hash="h4-edited")
    assert wh.plan([poll("f", [fresh_edit], "p8")], 3, in_flight=staged).to_fetch == [fresh_edit]


def test_planning_on_a_snapshot_from_before_schema_4_still_retries(tmp_path: Path) -> None:
    """The ingest plans on the published snapshot, which an upgrade leaves at schema 3 (no retry_entries)
    until the next load publishes a new one: the retry goes ahead, without the entry's own text."""
    path = tmp_path / "w.duckdb"
    failing = make_item(2)
    with Warehouse(path) as w:
        outcome = ItemOutcome(item=failing, status="failed", reason="HTTP 503", retryable=True)
        w.load_batch(Batch(polls=[poll("f", [failing])], outcomes=[outcome]), now=NOW)
        w.con.execute("DROP TABLE retry_entries")
        w.con.execute("DROP TABLE host_pauses")
        w.con.execute("DELETE FROM schema_migrations WHERE version >= 4")
    unchanged = dataclasses.replace(poll("f", [], "p2"), status="not_modified", http_status=304)
    with Warehouse(path, read_only=True) as old:
        assert old.schema_version() == 3
        plan = old.plan([unchanged], max_attempts=3)
    assert plan.to_fetch == [dataclasses.replace(failing, summary=None)]
    assert plan.attempts == {failing.item_id: 2}


def test_planning_leaves_the_items_of_a_paused_host_with_their_attempts(wh: Warehouse) -> None:
    """A pause a host asked for (stored by a load, or given by this run) holds its items back until it ends:
    they become "not fetched" outcomes with the attempts they had; other hosts' items are fetched."""
    failing, fresh = make_item(1), make_item(2)
    other = make_item(3, url="https://elsewhere.example/story-3")
    host = host_key(failing.link or "")
    wh.load_batch(
        Batch(
            polls=[poll("f", [failing])],
            outcomes=[ItemOutcome(item=failing, status="failed", reason="HTTP 429", retryable=True)],
            host_pauses=[HostPause(host, NOW + timedelta(hours=1), "HTTP 429 with Retry-After: 3600")],
        ),
        now=NOW,
    )
    assert wh.host_pauses() == [HostPause(host, NOW + timedelta(hours=1), "HTTP 429 with Retry-After: 3600")]
    plan = wh.plan([poll("f", [failing, fresh, other], "p2")], max_attempts=3, now=NOW + timedelta(minutes=5))
    assert plan.to_fetch == [other]
    assert [(o.item.item_id, o.status, o.retryable, o.attempts) for o in plan.paused] == [
        (failing.item_id, "failed", True, 1),  # the one attempt it used, not another
        (fresh.item_id, "failed", True, 0),
    ]
    assert all(is_not_fetched(o) and "until" in (o.reason or "") for o in plan.paused)
    after = wh.plan([poll("f", [fresh, other, failing], "p3")], max_attempts=3, now=NOW + timedelta(hours=2))
    assert after.paused == []
    assert after.to_fetch == [failing, fresh, other]  # the retry before the new
    given = HostPause("elsewhere.example", NOW + timedelta(minutes=30), "HTTP 503 with Retry-After: 1800")
    mixed = wh.plan([poll("f", [other], "p4")], 3, pauses=[given], now=NOW + timedelta(minutes=10))
    # The stored pause still holds f's retry; this run's own pause holds the other host's item.
    assert mixed.to_fetch == [] and [o.item for o in mixed.paused] == [failing, other]
    # A later load drops the pauses that have ended.
    wh.load_batch(Batch(), now=NOW + timedelta(hours=2))
    assert wh.host_pauses() == []


def test_an_edit_left_unfetched_is_fetched_after_the_pause_even_behind_a_304(wh: Warehouse) -> None:
    """The refetch of an edited entry (a correction) that a pause held back keeps the item loaded with its old
    entry hash; the edited entry waits in the ledger and is fetched on the feed's next good poll after the
    pause, even one that lists nothing (304), until it loads."""
    story = make_item(1)
    first = dataclasses.replace(poll("f", [story]), etag='"v1"', body_hash="b1")
    wh.load_batch(Batch(polls=[first], outcomes=[loaded(story)]), now=NOW)
    edited = dataclasses.replace(story, entry_hash="h1-edited", title="Story 1 (corrected)")
    pause = HostPause(host_key(story.link or ""), NOW + timedelta(hours=1), "HTTP 429 with Retry-After: 3600")
    second = dataclasses.replace(poll("f", [edited], "p2"), etag='"v2"', body_hash="b2")
    plan = wh.plan([second], max_attempts=3, pauses=[pause], now=NOW)
    assert plan.to_fetch == [] and [o.item for o in plan.paused] == [edited]
    wh.load_batch(Batch(polls=[second], outcomes=plan.paused, host_pauses=[pause]), now=NOW)
    assert wh.query("SELECT status, entry_hash FROM items")[1] == [("loaded", "h1")]  # still the old version
    unchanged = dataclasses.replace(poll("f", [], "p3"), status="not_modified", http_status=304)
    assert wh.plan([unchanged], 3, now=NOW + timedelta(minutes=30)).paused != []  # the pause still holds
    later = wh.plan([unchanged], 3, now=NOW + timedelta(hours=2))
    assert later.to_fetch == [edited] and later.attempts == {edited.item_id: 1}  # a correction
    corrected = loaded(edited, body="Body text of the corrected story.")
    wh.load_batch(Batch(polls=[unchanged], outcomes=[corrected]), now=NOW + timedelta(hours=2))
    assert wh.query("SELECT status, entry_hash FROM items")[1] == [("loaded", "h1-edited")]
    assert wh.query("SELECT count(*) FROM retry_entries")[1] == [(0,)]
    assert (
        wh.plan([dataclasses.replace(unchanged, poll_id="p4")], 3, now=NOW + timedelta(hours=3)).to_fetch
        == []
    )

    # A held edit that a later poll shows reverted (listed as the article has it) is dropped, not fetched.
    again = dataclasses.replace(edited, entry_hash="h1-edited-twice")
    held = wh.plan([poll("f", [again], "p5")], 3, pauses=[pause], now=NOW + timedelta(minutes=1)).paused
    wh.load_batch(Batch(polls=[poll("f", [again], "p5")], outcomes=held), now=NOW + timedelta(hours=3))
    assert wh.query("SELECT count(*) FROM retry_entries WHERE entry IS NOT NULL")[1] == [(1,)]
    wh.load_batch(Batch(polls=[poll("f", [edited], "p6")]), now=NOW + timedelta(hours=3))
    assert wh.query("SELECT count(*) FROM retry_entries")[1] == [(0,)]
    # "Not fetched" for an item already loaded with that very entry (a stale plan) holds nothing.
    stale = ItemOutcome(edited, "failed", "not fetched: the run's fetch budget ran out", retryable=True)
    wh.load_batch(Batch(polls=[poll("f", [], "p7")], outcomes=[stale]), now=NOW + timedelta(hours=3))
    assert wh.query("SELECT count(*) FROM retry_entries WHERE entry IS NOT NULL")[1] == [(0,)]


def test_a_paused_feed_is_not_due_even_when_forced() -> None:
    feeds = [FeedConfig(name=n, url=f"https://{n}.example/feed.xml") for n in ("f", "g")]
    pause = HostPause("f.example", NOW + timedelta(hours=1), "HTTP 429 with Retry-After: 3600")
    assert [f.name for f in select_due(feeds, {}, NOW, True, [pause])] == ["g"]
    assert [f.name for f in select_due(feeds, {}, NOW + timedelta(hours=2), True, [pause])] == ["f", "g"]


def test_failed_load_leaves_nothing(wh: Warehouse) -> None:
    items = [make_item(n) for n in range(3)]
    good = [loaded(i) for i in items]
    broken = dataclasses.replace(good[2], article=dataclasses.replace(good[2].article, body=None))  # NOT NULL
    with pytest.raises(Exception, match="NOT NULL"):
        wh.load_batch(Batch(polls=[poll("f", items)], outcomes=[good[0], good[1], broken]), now=NOW)
    assert all(rows == [] for rows in snapshot(wh).values())
    wh.load_batch(Batch(polls=[poll("f", items)], outcomes=good), now=NOW)  # the connection is still usable
    assert wh.query("SELECT count(*) FROM articles")[1] == [(3,)]


def test_ledger_violations_are_reported(wh: Warehouse) -> None:
    it = make_item(1)
    wh.load_batch(Batch(polls=[poll("f", [it])], outcomes=[loaded(it)]), now=NOW)
    wh.con.execute("DELETE FROM articles")
    wh.con.execute(
        "INSERT INTO feed_polls SELECT 'px', feed, url, started_at, duration_s, status, http_status, "
        "bytes, items_seen, 5, error, parse_warning FROM feed_polls"
    )
    problems = {v[2] for v in wh.ledger_violations()}
    assert "loaded/duplicate item without its article" in problems
    assert any("polls counted 6 new items but the ledger holds 1" in p for p in problems)


def test_read_only_requires_existing_file(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="no warehouse yet"):
        Warehouse(tmp_path / "none.duckdb", read_only=True)
