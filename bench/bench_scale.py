"""Warehouse scale: a synthetic warehouse of 1 million articles with topics and stories (loaded as a year of
ingestion); time to upsert a batch of 100,000 through the real load path, the story step included; typical
analyst queries; file size per million articles."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import table, write_result

WORDS = (
    "migration border talks aid minister council market storm court science team election trade health "
    "school river bridge budget festival police data energy climate farmers port museum"
).split()
TOPICS = ("border", "diplomacy", "aid")
NOW = datetime(2026, 11, 27, tzinfo=UTC)
QUERIES = {
    "topic counts per day, 30 days": """
        SELECT date_trunc('day', a.published_at) AS day, t.topic, count(*) AS n
        FROM articles a JOIN article_topics t USING (article_id)
        WHERE t.assigned AND a.published_at >= TIMESTAMPTZ '2026-10-28' GROUP BY ALL ORDER BY ALL""",
    "top domains per topic": """
        SELECT topic, domain, n FROM (
            SELECT t.topic, split_part(a.url, '/', 3) AS domain, count(*) AS n
            FROM articles a JOIN article_topics t USING (article_id) WHERE t.assigned GROUP BY ALL)
        QUALIFY row_number() OVER (PARTITION BY topic ORDER BY n DESC) <= 10 ORDER BY topic, n DESC""",
    "keyword search in bodies": (
        "SELECT article_id, title FROM articles WHERE contains(body, 'zeppelin') LIMIT 100"
    ),
}


def make_batch(start: int, n: int, rng: random.Random, version: int = 1):  # type: ignore[no-untyped-def]
    from newsflow.models import Article, Batch, FeedItem, ItemOutcome, PollResult, StorySignature, TopicRow
    from newsflow.urls import article_id, stable_id

    # Story signatures are made beside the extraction, not by the load: random ones (the bodies are random
    # words, so no article is a copy of another) cost the load's story step what real ones would.
    signatures = [rng.randbytes(128 * 4 + 64 * 4) for _ in range(n)]

    outcomes, topics, items = [], [], []
    for i in range(start, start + n):
        url = f"https://site{i % 500}.example/news/{i}.html"
        aid = article_id(url)
        body = " ".join(rng.choices(WORDS, k=150)) + (" zeppelin" if i % 1000 == 0 else "") + f" v{version}"
        item = FeedItem(
            item_id=stable_id("f", str(i)),
            feed=f"feed{i % 50}",
            guid=str(i),
            link=url,
            canonical_url=url,
            title=f"Story {i}",
            summary=None,
            content=None,
            author=None,
            published_at=NOW - timedelta(minutes=i % 86400),
            entry_hash=f"h{i}-{version}",
        )
        article = Article(
            article_id=aid,
            canonical_url=url,
            url=url,
            feed=item.feed,
            item_id=item.item_id,
            title=item.title,
            author=None,
            site_name=None,
            published_at=item.published_at,
            language="en",
            language_source="page",
            body=body,
            body_source="extracted",
            word_count=151,
            body_hash=stable_id(body, length=32),
            raw_path=None,
            http_status=200,
            fetched_at=NOW,
            extractor="synthetic",
            extraction_path="precision",
            date_source="feed",
        )
        items.append(item)
        raw = signatures[i - start]
        sig = StorySignature(article.body_hash, 150, raw[: 128 * 4], raw[128 * 4 :])
        outcomes.append(ItemOutcome(item, "loaded", article_id=aid, article=article, story_signature=sig))
        for t in TOPICS:
            score = rng.random()
            topics.append(TopicRow(aid, t, "synthetic-1", round(score, 4), score > 0.8, {"terms": []}))
    poll = PollResult(
        poll_id=f"poll-{start}-{version}",
        feed="feed0",
        url="https://x.example/f",
        started_at=NOW,
        duration_s=0.0,
        status="ok",
        http_status=200,
        items=tuple(items),
    )
    return Batch(polls=[poll], outcomes=outcomes, topics=topics)


def unchanged_polls(feeds: int) -> list[Any]:
    """One poll per feed, each a 304 (nothing new)."""
    from newsflow.models import PollResult

    return [
        PollResult(
            poll_id=f"nochange-{n}",
            feed=f"feed-{n}",
            url=f"https://feeds.example/{n}.xml",
            started_at=NOW,
            duration_s=0.01,
            status="not_modified",
            http_status=304,
            next_poll_at=NOW + timedelta(minutes=15),
        )
        for n in range(feeds)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    from newsflow.models import Batch
    from newsflow.warehouse import Warehouse

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.duckdb"
        base = args.articles - args.batch // 2  # the timed batch adds the other half
        t0 = time.perf_counter()
        with Warehouse(path) as wh:
            for start in range(0, base, args.batch):
                # a year of ingestion, oldest first: the story window holds the last month of it
                at = NOW - timedelta(days=365 * (base - start) / args.articles)
                wh.load_batch(make_batch(start, min(args.batch, base - start), rng), now=at)
            build_s = time.perf_counter() - t0
            # the timed upsert: half new articles, half corrections of existing ones
            batch = make_batch(base - args.batch // 2, args.batch, rng, version=2)
            t0 = time.perf_counter()
            stats = wh.load_batch(batch, now=NOW)
            upsert_s = time.perf_counter() - t0
            wh.con.execute("CHECKPOINT")
            total = wh.query("SELECT count(*) FROM articles")[1][0][0]
            t0 = time.perf_counter()
            wh.publish()  # what a load that changed content pays so analysts can read a snapshot
            publish_s = time.perf_counter() - t0
            # A cycle with nothing new: 10,000 feeds answering 304, loaded and published (feed state only).
            t0 = time.perf_counter()
            nothing_new = wh.load_batch(Batch(polls=unchanged_polls(10_000)), now=NOW)
            copied = wh.publish(changed_content=nothing_new.changed_content, max_age_s=3600)
            nochange_s = time.perf_counter() - t0
            assert not copied
        size = path.stat().st_size
        timings = {}
        with Warehouse(path, read_only=True) as wh:
            for name, sql in QUERIES.items():
                runs = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    wh.query(sql)
                    runs.append(time.perf_counter() - t0)
                timings[name] = statistics.median(runs)
    result = {
        "articles": total,
        "build_s": round(build_s, 1),
        "upsert_batch": args.batch,
        "upsert_s": round(upsert_s, 2),
        "upsert_inserted": stats.articles_inserted,
        "upsert_updated": stats.articles_updated,
        "file_bytes": size,
        "file_bytes_per_million": int(size * 1_000_000 / total),
        "query_s": {k: round(v, 3) for k, v in timings.items()},
        "publish_s": round(publish_s, 2),
        "nochange_load_and_publish_s": round(nochange_s, 3),
        "notes": "synthetic bodies of ~150 words; 3 topic rows per article; queries: median of 3 on the file",
    }
    out = write_result("scale", result)
    rows = [
        (
            f"upsert {args.batch:,} ({stats.articles_inserted:,} new, {stats.articles_updated:,} corrected)",
            f"{upsert_s:.1f} s",
            "< 30 s",
            "yes" if upsert_s < 30 else "NO",
        ),
    ]
    rows += [(f"query: {k}", f"{v:.3f} s", "< 1 s", "yes" if v < 1 else "NO") for k, v in timings.items()]
    rows.append(("file size per million articles", f"{size * 1_000_000 / total / 1e9:.2f} GB", "", ""))
    rows.append(("publishing the analysts' snapshot (copy)", f"{publish_s:.1f} s", "", ""))
    rows.append(
        ("no-change load of 10,000 feeds + publishing (feed state only)", f"{nochange_s:.2f} s", "", "")
    )
    print(table(rows))
    print(f"{total:,} articles built in {build_s:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
