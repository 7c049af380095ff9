"""Crash safety: the loader killed with SIGKILL in the middle of a load (a real process) leaves a warehouse
that opens, holds none of that batch (never a part of it) and passes `newsflow check`; running the same
load again then stores everything exactly once.

The other half of the issue, a load while another process holds the DuckDB file, is
``test_concurrency.py::test_load_waits_for_a_reader_holding_the_live_file`` (the loader retries with
backoff until the holder lets go, then loads).

This file is also the loader: ``python test_crash_safety.py WAREHOUSE FIRST COUNT`` builds a batch of
COUNT articles numbered from FIRST, prints ``loading`` and calls ``Warehouse.load_batch``, then ``done``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factories import NOW, feed_item, loaded
from newsflow.models import Batch, FeedItem, ItemOutcome, PollResult, TopicRow
from newsflow.urls import stable_id
from newsflow.warehouse import Warehouse, check_warehouse, migrations

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIG = 20_000
BODY = " ".join(f"word{n}" for n in range(150))  # ~1.2 KB per article: the load takes seconds


def build_batch(first: int, count: int) -> Batch:
    """``count`` loaded articles (each with two topic rows) from one poll; the same input gives the same
    batch, ids included, so a re-run is the same load."""
    items: list[FeedItem] = []
    outcomes: list[ItemOutcome] = []
    topics: list[TopicRow] = []
    for n in range(first, first + count):
        link = f"https://news.example/{n // 1000}/story-{n}.html?utm_source=rss"
        it = feed_item(
            f"guid-{n}",
            link,
            feed="wire",
            title=f"Story {n}",
            author="Desk",
            entry_hash=stable_id(str(n), length=32),
        )
        outcome = loaded(
            it, f"Story {n}. {BODY}", body_hash=stable_id("body", str(n), length=32), author="Desk"
        )
        aid = outcome.article_id
        assert aid is not None
        items.append(it)
        outcomes.append(outcome)
        topics += [TopicRow(aid, t, "v1", 0.5, t == "aid", {"n": n}) for t in ("aid", "border")]
    poll = PollResult(
        poll_id=f"poll-{first}-{count}",
        feed="wire",
        url="https://news.example/wire.xml",
        started_at=NOW,
        duration_s=1.0,
        status="ok",
        http_status=200,
        bytes=1000,
        items=tuple(items),
    )
    return Batch(polls=[poll], outcomes=outcomes, topics=topics)


def loader(path: Path, first: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, str(path), str(first), str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )


def counts(path: Path) -> dict[str, int]:
    with Warehouse(path, read_only=True) as wh:
        return {
            t: wh.query(f"SELECT count(*) FROM {t}")[1][0][0]
            for t in ("items", "articles", "article_topics", "feed_polls")
        }


def batch_articles(path: Path, first: int, count: int) -> int:
    """How many articles of the batch [first, first + count) the warehouse holds (each at most once)."""
    with Warehouse(path, read_only=True) as wh:
        rows = wh.query(
            "SELECT count(*), count(DISTINCT canonical_url) FROM articles WHERE item_id IN "
            "(SELECT item_id FROM items WHERE first_poll_id = ?)",
            [f"poll-{first}-{count}"],
        )[1][0]
    assert rows[0] == rows[1]
    return int(rows[0])


def kill_mid_load(path: Path, first: int, count: int, when: str) -> None:
    """Start the load and SIGKILL it: ``in-memory`` 0.3 s into the transaction, ``writing`` as soon as the
    database file starts to grow (DuckDB writing the batch's blocks and committing)."""
    size = path.stat().st_size
    proc = loader(path, first, count)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "loading"  # printed right before load_batch
    if when == "in-memory":
        time.sleep(0.3)  # the load takes over a second before it writes anything
    else:
        deadline = time.monotonic() + 60
        while path.stat().st_size == size and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    rest = proc.communicate(timeout=30)[0]
    assert proc.returncode == -signal.SIGKILL and "done" not in rest, (
        f"{when}: the load ended before the kill"
    )


def test_sigkill_during_a_load_loses_nothing_and_half_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    small = 500
    first = loader(path, 0, small)  # what was there before the crashes must survive them
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and out.split() == ["loading", "done"]
    before = counts(path)
    assert before == {"items": small, "articles": small, "article_topics": 2 * small, "feed_polls": 1}
    whole = {
        "items": small + BIG,
        "articles": small + BIG,
        "article_topics": 2 * (small + BIG),
        "feed_polls": 2,
    }

    outcomes = []
    for when in ("in-memory", "writing"):
        if counts(path) == whole:
            break  # a kill while committing may leave the whole batch: nothing left to interrupt
        kill_mid_load(path, small, BIG, when)
        report = check_warehouse(path)  # opens (read-only), schema current, every invariant holds
        assert report.ok, f"after a kill {when}:\n{report.format()}"
        after = counts(path)
        assert after in (before, whole), (when, after)  # none of the batch or all of it, never a part
        assert batch_articles(path, small, BIG) in (0, BIG)
        outcomes.append((when, "none" if after == before else "all"))
    assert outcomes[0] == ("in-memory", "none")
    with Warehouse(path) as wh:  # it opens for writing too
        assert wh.schema_version() == migrations()[-1][0]

    again = loader(path, small, BIG)  # the same load, to completion
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and out.split() == ["loading", "done"]
    report = check_warehouse(path)
    assert report.ok, report.format()
    assert counts(path) == whole
    assert batch_articles(path, small, BIG) == BIG


def _main(argv: list[str]) -> None:
    path, first, count = Path(argv[0]), int(argv[1]), int(argv[2])
    batch = build_batch(first, count)
    with Warehouse(path) as wh:
        print("loading", flush=True)
        wh.load_batch(batch, now=NOW)
    print("done", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
