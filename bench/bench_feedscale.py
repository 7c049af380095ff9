"""Feed scale, the writer's half: N feeds of one article each on 8 loopback hosts, `newsflow run --force`
twice in one process (``run_cycle``), the second with nothing new (every feed answers 304).

For each cycle: wall time, the poll and load steps (the load includes publishing the analysts' snapshot),
the load's ratio to the poll, and the CPU of the process tree; per N, the process's peak RSS. Each N runs in
a process of its own (``--feeds N``) so that peaks do not mix, and the loopback hosts in another (they
would share this process's GIL). Targets (issue "set-based writes"): in the
no-change cycle of 2,000 feeds the load takes at most 0.5x the poll; 10,000 feeds in 15 s or less.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import aeb_pages, table, tree_cpu_seconds, write_result

HOSTS = 8
SIZES = (2000, 10000)


def build(root: Path, feeds: int) -> list[Path]:
    """One folder per host: the real pages under /p/ and feeds f<n>.xml of one link each (a copy per feed)."""
    pages = aeb_pages()
    folders = [root / f"host{h}" for h in range(HOSTS)]
    for folder in folders:
        (folder / "p").mkdir(parents=True)
        (folder / "feeds").mkdir()
        for page in pages:
            shutil.copy(page, folder / "p" / page.name)
    for n in range(feeds):
        page = pages[n % len(pages)].name
        link = f"{{{{BASE_URL}}}}/p/{page}?copy={n}"
        (folders[n % HOSTS] / "feeds" / f"f{n}.xml").write_text(
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {n}</title><item>"
            f"<title>Story {n}</title><link>{link}</link><guid>{link}</guid>"
            "<pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>"
        )
    return folders


def serve(root: Path) -> None:
    """The 8 hosts, in a process of their own (as publishers' servers are): prints their base URLs."""
    from newsflow.sample import StaticSite

    folders = sorted(root.glob("host*"), key=lambda f: int(f.name[4:]))
    sites = [StaticSite(f, port=0, host=f"127.0.0.{h + 2}").start() for h, f in enumerate(folders)]
    print(json.dumps([s.base_url for s in sites]), flush=True)
    sys.stdin.read()  # until the benchmark closes the pipe


def one_size(feeds: int) -> dict[str, Any]:
    from newsflow.config import load_feeds_file
    from newsflow.run import run_cycle

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        build(root / "site", feeds)
        server = stack.enter_context(
            subprocess.Popen(
                [sys.executable, __file__, "--serve", str(root / "site")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        assert server.stdout is not None and server.stdin is not None
        bases = json.loads(server.stdout.readline())
        lines = ["allow_hosts: " + json.dumps([b.removeprefix("http://") for b in bases]), "feeds:"]
        lines += [f"  - {{name: f{n}, url: '{bases[n % HOSTS]}/feeds/f{n}.xml'}}" for n in range(feeds)]
        lines.append("settings: " + json.dumps({"per_host_min_delay_s": 0, "per_host_concurrency": 8}))
        (root / "feeds.yaml").write_text("\n".join(lines) + "\n")
        cfg = load_feeds_file(root / "feeds.yaml")
        cycles = {}
        for name in ("first", "no_change"):
            cpu0, t0 = tree_cpu_seconds(), time.perf_counter()
            summary = run_cycle(cfg, root / "w.duckdb", home=root / "home", force=True)
            wall, cpu = time.perf_counter() - t0, tree_cpu_seconds() - cpu0
            poll, load = summary.timings.get("poll", 0.0), summary.timings.get("load", 0.0)
            cycles[name] = {
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "poll_s": round(poll, 2),
                "load_s": round(load, 2),
                "load_to_poll": round(load / poll, 2) if poll else None,
                "timings": {k: round(v, 3) for k, v in summary.timings.items()},
                "feeds_polled": summary.feeds_polled,
                "feeds_not_modified": summary.feeds_not_modified,
                "articles_loaded": summary.load.articles_inserted,
            }
            print(f"  {feeds} feeds, {name} cycle: {cycles[name]}", flush=True)
        server.stdin.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "feeds": feeds,
        "hosts": HOSTS,
        **cycles,
        "peak_rss_mb": round(peak_mb),
        "peak_child_rss_mb": round(children_mb),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, help="one size, in this process (else each size in its own)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.feeds:
        result = one_size(args.feeds)
        if args.out:
            args.out.write_text(json.dumps(result))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            out = Path(tmp) / f"{n}.json"
            subprocess.run([sys.executable, __file__, "--feeds", str(n), "--out", str(out)], check=True)
            results.append(json.loads(out.read_text()))
    path = write_result("feedscale", {"sizes": results})
    rows = []
    for r in results:
        nc, first = r["no_change"], r["first"]
        rows.append(
            (
                f"{r['feeds']} feeds, no-change cycle: load / poll",
                f"{nc['load_s']:.2f} s / {nc['poll_s']:.2f} s = {nc['load_to_poll']}",
                "<= 0.5" if r["feeds"] == 2000 else "",
                ("yes" if nc["load_to_poll"] <= 0.5 else "NO") if r["feeds"] == 2000 else "",
            )
        )
        rows.append(
            (
                f"{r['feeds']} feeds, no-change cycle: wall (CPU)",
                f"{nc['wall_s']:.1f} s ({nc['cpu_s']:.1f} s)",
                "<= 15 s" if r["feeds"] == 10000 else "",
                ("yes" if nc["wall_s"] <= 15 else "NO") if r["feeds"] == 10000 else "",
            )
        )
        rows.append(
            (
                f"{r['feeds']} feeds, first cycle: wall (CPU), load",
                f"{first['wall_s']:.1f} s ({first['cpu_s']:.1f} s), load {first['load_s']:.1f} s",
                "",
                "",
            )
        )
        rows.append((f"{r['feeds']} feeds: peak RSS", f"{r['peak_rss_mb']} MB", "", ""))
    print(table(rows))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
