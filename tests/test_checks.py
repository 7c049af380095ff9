"""`newsflow check`: a sound warehouse passes; each kind of corruption, injected with SQL into a copy, is
detected and named, and the warehouse is only ever read."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from factories import NOW, feed_item
from factories import loaded as make_loaded
from newsflow.models import Batch, FeedItem, ItemOutcome, PollResult, QuarantineRecord, TopicRow
from newsflow.urls import stable_id
from newsflow.warehouse import Warehouse, check_warehouse, migrations
from newsflow.warehouse.checks import main

ALL_CHECKS = {
    "schema_version",
    "ledger",
    "item_articles",
    "topic_orphans",
    "duplicate_canonical_urls",
    "duplicate_feed_entries",
    "quarantine_items",
    "stories",
}


def item(n: int, link: str) -> FeedItem:
    return feed_item(f"g{n}", link, title=f"Story {n}", entry_hash=f"h{n}")


def loaded(it: FeedItem) -> ItemOutcome:
    return make_loaded(it, f"Body of {it.title}.", body_hash=stable_id(it.item_id))


def sound_batch() -> Batch:
    """Two articles with topics, a duplicate (same canonical URL), a failure and a quarantined item."""
    one = item(1, "https://news.example/one.html")
    two = item(2, "https://news.example/two.html")
    dup = item(3, "https://news.example/one.html?utm_source=rss")
    bad = item(4, "https://news.example/gone.html")
    held = item(5, "https://news.example/held.html")
    outcomes = [
        loaded(one),
        loaded(two),
        loaded(dup),  # the load turns it into a duplicate of `one`
        ItemOutcome(item=bad, status="failed", reason="fetch http: HTTP 404"),
        ItemOutcome(item=held, status="quarantined", reason="quality: body too short"),
    ]
    topics = [
        TopicRow(o.article_id or "", t, "v1", 0.5, t == "aid", {"phrases": []})
        for o in outcomes[:2]
        for t in ("aid", "border")
    ]
    quarantine = [
        QuarantineRecord(
            quarantine_id="q1",
            item_id=held.item_id,
            article_id=None,
            run_id="run-1",
            reasons=("body too short",),
            record={"item_id": held.item_id},
            quarantined_at=NOW,
        )
    ]
    poll = PollResult(
        poll_id="p1",
        feed="f",
        url="https://news.example/feed.xml",
        started_at=NOW,
        duration_s=0.1,
        status="ok",
        http_status=200,
        bytes=100,
        items=tuple(o.item for o in outcomes),
    )
    return Batch(polls=[poll], outcomes=outcomes, topics=topics, quarantine=quarantine)


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sound") / "warehouse.duckdb"
    with Warehouse(path) as wh:
        stats = wh.load_batch(sound_batch(), now=NOW)
    assert (stats.loaded, stats.duplicate, stats.failed) == (2, 1, 1)
    return path


@pytest.fixture
def copy(sound: Path, tmp_path: Path) -> Path:
    target = tmp_path / "warehouse.duckdb"
    shutil.copyfile(sound, target)
    return target


def corrupt(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sound_warehouse_passes(sound: Path) -> None:
    before = digest(sound)
    report = check_warehouse(sound)
    assert report.ok, report.format()
    assert {c.name for c in report.checks} == ALL_CHECKS
    text = report.format()
    assert "all invariants hold" in text and "FAIL" not in text
    assert all(name in text for name in ALL_CHECKS)
    assert digest(sound) == before  # read-only: not a byte changed


LATEST = migrations()[-1][0]


@pytest.mark.parametrize(
    ("statements", "failing", "named"),
    [
        pytest.param(
            ["UPDATE items SET reason = NULL WHERE status = 'failed'"],
            {"ledger"},
            "failed item without a reason",
            id="failed-item-without-reason",
        ),
        pytest.param(
            ["UPDATE feed_polls SET items_new = items_new + 1"],
            {"ledger"},
            "polls counted 6 new items but the ledger holds 5",
            id="poll-counts-disagree-with-ledger",
        ),
        pytest.param(
            ["DELETE FROM quarantine"],
            {"ledger"},
            "quarantined item without a quarantine record",
            id="quarantine-record-lost",
        ),
        pytest.param(
            ["UPDATE items SET article_id = 'no-such-article' WHERE guid = 'g2'"],
            {"ledger", "item_articles"},
            "no-such-article",
            id="loaded-item-without-article",
        ),
        pytest.param(
            ["UPDATE items SET article_id = NULL WHERE status = 'duplicate'"],
            {"ledger", "item_articles"},
            "duplicate, NULL",
            id="duplicate-item-without-article-id",
        ),
        pytest.param(
            [
                "INSERT INTO article_topics SELECT * REPLACE ('ghost-article' AS article_id) "
                "FROM article_topics LIMIT 1"
            ],
            {"topic_orphans"},
            "ghost-article",
            id="orphan-topic-row",
        ),
        pytest.param(
            ["DELETE FROM articles WHERE title = 'Story 2'"],
            {"ledger", "item_articles", "topic_orphans"},
            "loaded/duplicate item without its article",
            id="article-deleted-under-its-item-and-topics",
        ),
        pytest.param(
            [
                "INSERT INTO articles SELECT * REPLACE ('copy-of-one' AS article_id) FROM articles "
                "WHERE title = 'Story 1'"
            ],
            {"duplicate_canonical_urls", "stories"},  # the copy has no story either
            "https://news.example/one.html, 2",
            id="duplicate-canonical-url",
        ),
        pytest.param(
            [
                "INSERT INTO items SELECT * REPLACE ('other-id' AS item_id) FROM items WHERE guid = 'g4'",
                "UPDATE feed_polls SET items_new = items_new + 1",  # keep the ledger's count right
            ],
            {"duplicate_feed_entries"},
            "f, g4, 2",
            id="duplicate-feed-entry",
        ),
        pytest.param(
            [
                "INSERT INTO quarantine VALUES ('q-ghost', 'no-such-item', NULL, 'run-2', ['why'], '{}', "
                "now())"
            ],
            {"quarantine_items"},
            "q-ghost, no-such-item",
            id="quarantine-row-without-item",
        ),
        pytest.param(
            [f"DELETE FROM schema_migrations WHERE version = {LATEST}"],
            {"schema_version"},
            f"migration(s) {LATEST} not applied",
            id="schema-behind",
        ),
        pytest.param(
            ["INSERT INTO schema_migrations VALUES (9999, 'from_the_future', now())"],
            {"schema_version"},
            "newer than this newsflow",
            id="schema-ahead",
        ),
        pytest.param(
            ["UPDATE articles SET story_id = NULL WHERE title = 'Story 1'"],
            {"stories"},
            "NULL",
            id="article-without-its-story",
        ),
        pytest.param(
            ["UPDATE articles SET body_hash = 'edited behind the load' WHERE title = 'Story 2'"],
            {"stories"},
            "stories",
            id="story-signature-of-another-body",
        ),
        pytest.param(
            ["DROP VIEW v_ledger_violations"],
            {"ledger"},
            "cannot run the check",
            id="ledger-view-missing",
        ),
    ],
)
def test_corruption_is_detected_and_named(
    copy: Path, statements: list[str], failing: set[str], named: str
) -> None:
    corrupt(copy, *statements)
    report = check_warehouse(copy)
    assert not report.ok
    assert {c.name for c in report.failed} == failing, report.format()
    assert {c.name for c in report.checks} == ALL_CHECKS  # a broken check never hides the others
    text = report.format()
    assert named in text, text
    for name in failing:
        assert f"FAIL {name}" in text
        assert report.check(name).violations >= 1 and report.check(name).details


def test_details_are_capped_but_the_count_is_exact(copy: Path) -> None:
    corrupt(
        copy,
        "INSERT INTO article_topics SELECT 'ghost-' || i, 'aid', 'v1', 0.1, false, NULL, now() "
        "FROM range(25) t(i)",
    )
    check = check_warehouse(copy).check("topic_orphans")
    assert check.violations == 25
    assert len(check.details) == 11 and check.details[-1] == "... and 15 more"


def test_an_old_schema_is_reported_not_migrated(copy: Path) -> None:
    corrupt(copy, f"DELETE FROM schema_migrations WHERE version = {LATEST}")
    assert not check_warehouse(copy).ok
    with Warehouse(copy, read_only=True) as wh:
        assert wh.schema_version() == LATEST - 1  # the check never writes, not even a migration


def test_main_exit_codes_and_report(
    sound: Path, copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--warehouse", str(sound)]) == 0
    assert "result: all invariants hold" in capsys.readouterr().out

    corrupt(
        copy,
        "INSERT INTO article_topics SELECT * REPLACE ('ghost' AS article_id) FROM article_topics "
        "WHERE topic = 'aid' LIMIT 1",
    )
    assert main(["--warehouse", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL topic_orphans" in out and "ghost, aid, v1" in out and "1 of 8 checks FAILED" in out

    assert main(["--warehouse", str(tmp_path / "missing.duckdb")]) == 2
    assert "no warehouse yet" in capsys.readouterr().err


def test_main_uses_newsflow_home_by_default(
    sound: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(sound, home / "warehouse.duckdb")
    monkeypatch.setenv("NEWSFLOW_HOME", str(home))
    assert main([]) == 0
    assert str(home / "warehouse.duckdb") in capsys.readouterr().out
