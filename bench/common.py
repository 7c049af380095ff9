"""Shared helpers of the benchmark scripts: the real-page site, results files, a table printer.

Benchmarks read real pages from ../shared (never copied into the repository) and report ratios against a
baseline measured in the same run, since these machines are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
AEB = SHARED / "corpus" / "articles" / "aeb"
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO / "include"))


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
    }


def aeb_pages() -> list[Path]:
    pages = sorted(AEB.glob("*.html"))
    if not pages:
        raise SystemExit(f"no pages in {AEB}: the benchmarks need ../shared")
    return pages


def build_site(root: Path, pages: Sequence[Path], feeds: int, copies: int = 1) -> list[str]:
    """A static site of real pages under /p/ and RSS feeds under /feeds/ linking to them (``{{BASE_URL}}``
    is filled in by the server). Returns the feed paths."""
    (root / "p").mkdir(parents=True, exist_ok=True)
    for page in pages:
        shutil.copy(page, root / "p" / page.name)
    links = [f"{{{{BASE_URL}}}}/p/{page.name}?copy={c}" for c in range(copies) for page in pages]
    paths = []
    per_feed = -(-len(links) // feeds)
    for n in range(feeds):
        chunk = links[n * per_feed : (n + 1) * per_feed]
        entries = "".join(
            f"<item><title>Story {n}-{i}</title><link>{link.replace('&', '&amp;')}</link>"
            f"<guid>{link}</guid><pubDate>Wed, 25 Nov 2026 10:{i % 60:02d}:00 GMT</pubDate></item>"
            for i, link in enumerate(chunk)
        )
        (root / "feeds").mkdir(exist_ok=True)
        (root / "feeds" / f"f{n}.xml").write_text(
            "<?xml version='1.0'?><rss version='2.0'><channel>"
            f"<title>Feed {n}</title>{entries}</channel></rss>"
        )
        paths.append(f"/feeds/f{n}.xml")
    return paths


def feeds_file(path: Path, site: Any, feed_paths: Sequence[str], **settings: Any) -> Path:
    """A feeds file for ``feed_paths`` on a running StaticSite, which it allow-lists."""
    lines = [f"allow_hosts: ['127.0.0.1:{site.port}']", "feeds:"]
    lines += [f"  - {{name: f{n}, url: '{site.base_url}{p}'}}" for n, p in enumerate(feed_paths)]
    lines.append("settings: " + json.dumps(settings))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps({"benchmark": name, "machine": machine(), **result}, indent=2, default=str) + "\n"
    )
    return out


def tree_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and every process under it, running or ended.

    A process that ended and was waited for is counted in its parent's children times (the extraction workers
    in the forkserver's, which stays up), so the difference of two readings is the CPU the whole tree used in
    between, whichever processes came and went. Take the readings while no process of the tree is ending (the
    throughput benchmark reads between cycles, when the cycle's workers have been waited for).
    """
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:  # gone since the listing (and counted by its parent once waited for)
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    headers = ("measure", "value", "target", "met")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(4)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(tuple("-" * w for w in widths)), *map(line, rows)])
