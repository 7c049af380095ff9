"""The load's set-based writes (one statement per table per batch) keep the per-row semantics: feed state
(COALESCE rules, the consecutive-failure counter), idempotence on poll ids and on the quarantine and
validation keys, the latest end of a host's pause, all in the batch's one transaction."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from factories import NOW, feed_item
from newsflow.models import Batch, HostPause, ItemOutcome, PollResult, QuarantineRecord, ValidationRun
from newsflow.urls import stable_id
from newsflow.warehouse import Warehouse

FEEDS = 300  # many feeds in one batch: the statements are per table, not per feed
FEED_STATE = (
    "SELECT name, url, title, format, etag, last_status, last_error, last_success_at, last_new_item_at, "
    "consecutive_failures, next_poll_at FROM feeds"
)


def poll(
    feed: str, when: int, status: str = "ok", *, title: str | None = None, items: int = 0, **kw: object
) -> PollResult:  # noqa: E501
    """A poll of ``feed`` at NOW + ``when`` minutes, with ``items`` new entries."""
    at = NOW + timedelta(minutes=when)
    entries = tuple(
        feed_item(f"{feed}-{when}-{n}", f"https://news.example/{feed}/{when}/{n}", feed=feed)
        for n in range(items)
    )
    return PollResult(
        poll_id=stable_id(feed, str(when), length=32),
        feed=feed,
        url=f"https://news.example/{feed}.xml",
        started_at=at,
        duration_s=0.1,
        status=status,  # type: ignore[arg-type]
        http_status=200 if status == "ok" else 500 if status == "error" else 304,
        items=entries,
        error="HTTP 500" if status == "error" else None,
        feed_title=title,
        feed_format="rss20" if title else None,
        etag=f'"{feed}-{when}"',
        next_poll_at=at + timedelta(minutes=15),
        **kw,  # type: ignore[arg-type]
    )


def failed_items(p: PollResult) -> list[ItemOutcome]:
    return [ItemOutcome(item=i, status="failed", reason="fetch http: HTTP 404", attempts=1) for i in p.items]


def state(wh: Warehouse) -> dict[str, tuple[object, ...]]:
    return {row[0]: row[1:] for row in wh.query(FEED_STATE)[1]}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    with Warehouse(tmp_path / "w.duckdb") as w:
        yield w  # type: ignore[misc]


def test_feed_state_of_many_feeds_in_one_batch(wh: Warehouse) -> None:
    names = [f"feed{n:03d}" for n in range(FEEDS)]
    first = [
        poll(n, 0, "ok" if k % 3 else "error", title=f"T{n}", items=1 if k % 3 else 0)
        for k, n in enumerate(names)
    ]
    wh.load_batch(Batch(polls=first, outcomes=[o for p in first for o in failed_items(p)]))
    before = state(wh)
    # Second batch: feeds that fail again, feeds that recover, feeds that stay well with nothing new and no
    # title (the stored title and last new item stay), a feed seen for the first time, a poll already loaded.
    second = []
    for k, n in enumerate(names):
        if k % 3 == 0:
            second.append(poll(n, 15, "error" if k % 2 else "ok", items=0))  # fails again, or recovers
        elif k % 3 == 1:
            second.append(poll(n, 15, "not_modified"))
        else:
            second.append(poll(n, 15, "error"))
    second.append(poll("brand-new", 15, "ok", title="New", items=2))
    second.append(first[1])  # written twice: counted once
    stats = wh.load_batch(Batch(polls=second, outcomes=[o for p in second for o in failed_items(p)]))
    after = state(wh)
    assert stats.polls == FEEDS + 1
    assert wh.query("SELECT count(*) FROM feed_polls")[1] == [(2 * FEEDS + 1,)]
    for k, n in enumerate(names):
        url, title, fmt, etag, status, error, success, new_item, failures, next_poll = after[n]
        old = before[n]
        assert (url, title, fmt) == (old[0], f"T{n}", "rss20"), n  # COALESCE keeps title and format
        assert etag == f'"{n}-15"' and next_poll == NOW + timedelta(minutes=30)
        if k % 3 == 0 and k % 2:  # failed twice
            assert (status, error, failures, success, new_item) == ("error", "HTTP 500", 2, None, None)
        elif k % 3 == 0:  # recovered
            assert (status, failures, success, new_item) == ("ok", 0, NOW + timedelta(minutes=15), None)
        elif k % 3 == 1:  # well, nothing new: the last success moves, the last new item stays
            assert (status, failures, success) == ("not_modified", 0, NOW + timedelta(minutes=15))
            assert new_item == old[7] == NOW
        else:  # well before, failing now: the last success and last new item stay
            assert (status, failures, success, new_item) == ("error", 1, NOW, NOW)
    new = after["brand-new"]
    assert new[1:4] == ("New", "rss20", '"brand-new-15"')
    assert new[6:9] == (NOW + timedelta(minutes=15), NOW + timedelta(minutes=15), 0)
    items_new = dict(wh.query("SELECT feed, items_new FROM feed_polls WHERE started_at > ?", [NOW])[1])
    assert items_new["brand-new"] == 2 and items_new[names[1]] == 0
    reload = wh.load_batch(Batch(polls=second))  # the same batch again changes nothing
    assert reload.polls == 0 and state(wh) == after


def test_a_feed_polled_twice_in_one_batch_is_upserted_in_poll_order(wh: Warehouse) -> None:
    polls = [poll("f", 0, "error"), poll("f", 5, "ok", title="F", items=1), poll("f", 10, "error")]
    wh.load_batch(Batch(polls=polls, outcomes=[o for p in polls for o in failed_items(p)]))
    (row,) = state(wh).values()
    assert row[4:9] == ("error", "HTTP 500", NOW + timedelta(minutes=5), NOW + timedelta(minutes=5), 1)
    assert wh.query("SELECT count(*) FROM feed_polls")[1] == [(3,)]


def test_quarantine_validations_and_pauses_are_idempotent_and_keep_the_first_or_latest(wh: Warehouse) -> None:
    p = poll("f", 0, items=2)
    a, b = p.items
    q = [
        QuarantineRecord("q1", a.item_id, None, "r", ("title_length",), {"title": "x"}, NOW),
        QuarantineRecord("q2", b.item_id, None, "r", ("published_at_not_future",), {"n": 1}, NOW),
        QuarantineRecord("q1", a.item_id, None, "r", ("other",), {}, NOW),  # repeated id: the first wins
    ]
    v = [
        ValidationRun("r", "articles", NOW, 2, 0, 2, {"title_length": 1}, False, "docs/r.html"),
        ValidationRun("r", "article_topics", NOW, 6, 6, 0, {}, True, None),
        ValidationRun("r", "articles", NOW, 9, 9, 0, {}, True, None),  # repeated key
    ]
    pauses = [
        HostPause("a.example", NOW + timedelta(hours=1), "HTTP 429"),
        HostPause("a.example", NOW + timedelta(hours=3), "HTTP 503"),  # the later end wins
        HostPause("b.example", NOW + timedelta(hours=2), "HTTP 429"),
    ]
    outcomes = [ItemOutcome(item=i, status="quarantined", reason="failed validation") for i in p.items]
    batch = Batch(polls=[p], outcomes=outcomes, quarantine=q, validations=v, host_pauses=pauses)
    wh.load_batch(batch, now=NOW)
    wh.load_batch(batch, now=NOW)  # loading twice changes nothing
    wh.load_batch(  # a shorter pause never shortens a stored one; a longer one extends it
        Batch(
            host_pauses=[
                HostPause("a.example", NOW + timedelta(minutes=30), "HTTP 429"),
                HostPause("b.example", NOW + timedelta(hours=4), "HTTP 503"),
            ]
        ),
        now=NOW,
    )
    assert wh.query("SELECT quarantine_id, reasons, record::VARCHAR FROM quarantine ORDER BY 1")[1] == [
        ("q1", ["title_length"], '{"title": "x"}'),
        ("q2", ["published_at_not_future"], '{"n": 1}'),
    ]
    assert wh.query(
        "SELECT suite, rows_evaluated, per_expectation::VARCHAR, success, data_docs_path "
        "FROM validation_runs ORDER BY 1"
    )[1] == [
        ("article_topics", 6, "{}", True, None),
        ("articles", 2, '{"title_length": 1}', False, "docs/r.html"),
    ]
    assert wh.query("SELECT host, until, reason FROM host_pauses ORDER BY 1")[1] == [
        ("a.example", NOW + timedelta(hours=3), "HTTP 503"),
        ("b.example", NOW + timedelta(hours=4), "HTTP 503"),
    ]
    wh.load_batch(Batch(), now=NOW + timedelta(hours=5))  # ended pauses are dropped
    assert wh.query("SELECT count(*) FROM host_pauses")[1] == [(0,)]
    assert wh.ledger_violations() == []
