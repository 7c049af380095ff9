"""No-change cycle: a second cycle over 50 unchanged feeds makes no article request and parses no feed.

The server sends ETag/Last-Modified, so the second poll of each feed is a 304 (the same-body-hash path for
servers without validators is covered by tests/test_http_integration.py). Reports the second cycle's wall time
(including an empty validation pass) and the body bytes transferred.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import aeb_pages, build_site, feeds_file, table, write_result


def main() -> int:
    from newsflow.config import load_feeds_file
    from newsflow.run import run_cycle
    from newsflow.sample import StaticSite
    from newsflow.warehouse import Warehouse

    pages = aeb_pages()[:100]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        feed_paths = build_site(root / "site", pages, feeds=50)
        with StaticSite(root / "site", port=0) as site:
            cfg = load_feeds_file(
                feeds_file(
                    root / "feeds.yaml",
                    site,
                    feed_paths,
                    per_host_min_delay_s=0,
                    per_host_concurrency=8,
                )
            )
            first = run_cycle(cfg, root / "w.duckdb", home=root / "home", force=True)
            hits_before = dict(site.hits)
            t0 = time.perf_counter()
            run_cycle(cfg, root / "w.duckdb", home=root / "home", force=True)
            wall = time.perf_counter() - t0
            hits_after = dict(site.hits)
        with Warehouse(root / "w.duckdb", read_only=True) as wh:
            polls = wh.query(
                "SELECT status, count(*), sum(bytes) FROM feed_polls WHERE started_at = "
                "(SELECT max(started_at) FROM feed_polls) GROUP BY 1 ORDER BY 1"
            )[1]
    article_requests = sum(n - hits_before.get(p, 0) for p, n in hits_after.items() if p.startswith("/p/"))
    feed_requests = sum(n - hits_before.get(p, 0) for p, n in hits_after.items() if p.startswith("/feeds/"))
    parsed = sum(n for status, n, _ in polls if status == "ok")
    wire = sum(int(b or 0) for _, _, b in polls)
    result = {
        "feeds": 50,
        "first_cycle_articles": first.load.articles_inserted,
        "second_cycle_wall_s": round(wall, 3),
        "second_cycle_feed_requests": feed_requests,
        "second_cycle_article_requests": article_requests,
        "second_cycle_feeds_parsed": parsed,
        "second_cycle_bytes": wire,
        "poll_statuses": polls,
    }
    out = write_result("nochange", result)
    print(
        table(
            [
                ("second cycle wall time (50 feeds)", f"{wall:.2f} s", "", ""),
                ("second cycle bytes transferred (feed bodies)", str(wire), "", ""),
                (
                    "second cycle article requests",
                    str(article_requests),
                    "0",
                    "yes" if article_requests == 0 else "NO",
                ),
                ("second cycle feeds parsed", str(parsed), "0", "yes" if parsed == 0 else "NO"),
                ("second cycle poll statuses", ", ".join(f"{s}: {n}" for s, n, _ in polls), "", ""),
            ]
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
