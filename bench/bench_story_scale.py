"""Story clustering cost as the warehouse grows: a batch of 1,000 new articles (a tenth of them copies of
recent stories) loaded into warehouses of 1,000, 100,000 and 1,000,000 articles, through the real load path
on the DuckDB file; reports the whole load and the story step alone, per article.

The warehouses are built as a year of ingestion at one rate (1,000,000 articles a year, about 2,740 a day), so
the story window (``story_window_days``, 30) holds at most a month of them: the 100,000 and 1,000,000-article
warehouses have the same window. Signatures are random (the bodies are synthetic): matching costs the same,
and the signatures are made beside the extraction, not by the load (``bench_stories.py`` measures that).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
from common import table, write_result

NOW = datetime(2026, 11, 27, tzinfo=UTC)
PER_DAY = 1_000_000 / 365
BUILD_BATCH = 50_000


def outcomes(start: int, n: int, rng: np.random.Generator, copies_of: list[Any] | None = None) -> list[Any]:
    from newsflow.models import Article, FeedItem, ItemOutcome, StorySignature
    from newsflow.urls import article_id, stable_id

    out = []
    body_sigs = rng.integers(0, 2**32, size=(n, 128), dtype=np.uint32)
    lead_sigs = rng.integers(0, 2**32, size=(n, 64), dtype=np.uint32)
    for k, i in enumerate(range(start, start + n)):
        url = f"https://site{i % 500}.example/news/{i}.html"
        body = f"Synthetic story {i}."
        body_hash = stable_id(body, length=32)
        if copies_of and k < len(copies_of):  # a copy: the signature of a recent story's article
            src = copies_of[k]
            sig = StorySignature(body_hash, src.shingles, src.signature, src.lead_signature)
        else:
            sig = StorySignature(body_hash, 300, body_sigs[k].tobytes(), lead_sigs[k].tobytes())
        item = FeedItem(
            str(stable_id("f", str(i))), "f", str(i), url, url, f"Story {i}", None, None, None, NOW, "h"
        )
        article = Article(
            article_id(url),
            url,
            url,
            "f",
            item.item_id,
            item.title,
            None,
            None,
            NOW,
            "en",
            "page",
            body,
            "extracted",
            3,
            body_hash,
            None,
            200,
            NOW,
            "synthetic",
            "precision",
            "feed",
        )
        out.append(
            ItemOutcome(item, "loaded", article_id=article.article_id, article=article, story_signature=sig)
        )
    return out


def poll(n: int, items: list[Any]) -> Any:
    from newsflow.models import PollResult

    return PollResult(f"poll-{n}", "f", "https://x.example/f", NOW, 0.0, "ok", 200, items=tuple(items))


def measure(size: int, batch: int, rng: np.random.Generator, tmp: Path) -> dict[str, Any]:
    from newsflow.models import Batch, StorySignature
    from newsflow.stories import StoryParams
    from newsflow.warehouse import Warehouse
    from newsflow.warehouse.db import transaction
    from newsflow.warehouse.stories import assign_stories

    with Warehouse(tmp / f"stories-{size}.duckdb") as wh:
        built = 0
        while built < size:
            n = min(BUILD_BATCH, size - built)
            at = NOW - timedelta(days=(size - built) / PER_DAY)  # older batches first, at the ingest rate
            got = outcomes(built, n, rng)
            wh.load_batch(Batch(polls=[poll(built, [o.item for o in got])], outcomes=got), now=at)
            built += n
        recent = [
            StorySignature(h, s, sig, lead)
            for h, s, sig, lead in wh.query(
                "SELECT body_hash, shingles, signature, lead_signature FROM article_stories "
                f"ORDER BY seen_at DESC LIMIT {batch // 10}"
            )[1]
        ]
        index_rows = wh.query("SELECT count(*) FROM story_index")[1][0][0]
        new = outcomes(size, batch, rng, copies_of=recent)
        t0 = time.perf_counter()
        stats = wh.load_batch(Batch(polls=[poll(size, [o.item for o in new])], outcomes=new), now=NOW)
        load_s = time.perf_counter() - t0
        joined = wh.query(
            "SELECT count(*) FROM articles WHERE story_id <> article_id AND article_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [[o.article_id for o in new]],
        )[1][0][0]
        ids = [o.article_id for o in new]
        with transaction(wh.con):  # the story step alone, again on the same batch, as if it were new
            for table in ("article_stories", "story_index"):
                sql = f"DELETE FROM {table} WHERE article_id IN (SELECT unnest(?::VARCHAR[]))"
                wh.con.execute(sql, [ids])
            t0 = time.perf_counter()
            assign_stories(wh.con, new, NOW, StoryParams())
            story_s = time.perf_counter() - t0
    return {
        "articles": size,
        "index_rows": index_rows,
        "batch": batch,
        "load_s": round(load_s, 3),
        "load_ms_per_article": round(load_s * 1000 / batch, 3),
        "story_step_s": round(story_s, 3),
        "story_ms_per_article": round(story_s * 1000 / batch, 3),
        "assigned": stats.stories_assigned,
        "copies_joined": joined,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    results = []
    with TemporaryDirectory() as tmp:
        for size in args.sizes:
            results.append(measure(size, args.batch, rng, Path(tmp)))
            r = results[-1]
            print(
                f"{size:>9,} articles (index {r['index_rows']:,} rows): load {r['load_ms_per_article']} ms "
                f"and story step {r['story_ms_per_article']} ms per article; {r['copies_joined']} of "
                f"{args.batch // 10} copies joined their story",
                flush=True,
            )
    base = results[0]["story_ms_per_article"]
    rows = [
        (
            f"story step per article, {r['articles']:,} articles",
            f"{r['story_ms_per_article']} ms",
            "flat",
            f"{r['story_ms_per_article'] / base:.2f}x the smallest",
        )
        for r in results
    ]
    print(table(rows))
    write_result("story_scale", {"results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
