"""Throughput: the real pipeline (fetch, extract, classify, validate, load) over the 181 real pages served on
loopback, against a bare loop of ``trafilatura.extract()`` over the same pages, in the same run.

Politeness delays are set to zero for the loopback host (one server, ours). The GX import and project set-up
happen before timing (a long-running worker pays them once). Each round times one pipeline cycle and one bare
loop back to back, in alternating order; the ratio reported against the target is the median of the rounds'
own ratios, which a machine whose speed drifts between rounds disturbs less than a ratio of medians (also
reported, with both rates).

It also reads the CPU the whole process tree used during each cycle (this process with the loopback server's
threads, and the extraction workers) and reports it in units of the bare loop's time, with the ceiling it puts
on the ratio: the bare loop's time times the cores, over the cycle's CPU seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import aeb_pages, build_site, feeds_file, table, tree_cpu_seconds, write_result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--feeds", type=int, default=6)
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="serve each page under this many URLs (larger batches amortise per-run costs)",
    )
    args = parser.parse_args()

    import os

    import trafilatura

    from newsflow.config import load_feeds_file
    from newsflow.quality import ensure_project
    from newsflow.run import run_cycle
    from newsflow.sample import StaticSite

    pages = aeb_pages()
    htmls = [p.read_text(encoding="utf-8", errors="replace") for p in pages]
    pipeline_s, bare_s, loaded, stages = [], [], [], []
    pipeline_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        feed_paths = build_site(root / "site", pages, args.feeds, copies=args.copies)
        with StaticSite(root / "site", port=0) as site:
            cfg = load_feeds_file(
                feeds_file(
                    root / "feeds.yaml",
                    site,
                    feed_paths,
                    per_host_min_delay_s=0,
                    per_host_concurrency=8,
                    respect_robots=True,
                    max_quarantine_share=1.0,
                )
            )
            ensure_project(root / "home")  # GX imported and set up before timing

            def pipeline(r: int) -> None:
                c0, t0 = tree_cpu_seconds(), time.perf_counter()
                summary = run_cycle(cfg, root / f"w{r}.duckdb", home=root / "home", force=True)
                pipeline_s.append(time.perf_counter() - t0)
                pipeline_cpu.append(tree_cpu_seconds() - c0)
                loaded.append(summary.load.articles_inserted + summary.load.quarantined)
                stages.append({k: round(v, 3) for k, v in summary.timings.items()})

            def bare() -> None:
                t0 = time.perf_counter()
                for _ in range(args.copies):
                    for html in htmls:
                        trafilatura.extract(html)
                bare_s.append(time.perf_counter() - t0)

            for r in range(args.rounds):
                if r % 2:
                    bare()
                    pipeline(r)
                else:
                    pipeline(r)
                    bare()
    n = len(pages) * args.copies
    pipe_rate, bare_rate = n / statistics.median(pipeline_s), n / statistics.median(bare_s)
    round_ratios = [b / p for p, b in zip(pipeline_s, bare_s, strict=True)]
    ratio = statistics.median(round_ratios)
    # The best ratio the pipeline's CPU allows: its core-seconds spread perfectly over every core.
    cores = os.cpu_count() or 1
    ceilings = [b * cores / c for c, b in zip(pipeline_cpu, bare_s, strict=True)]
    busy = [c / (cores * p) for c, p in zip(pipeline_cpu, pipeline_s, strict=True)]
    median_round = stages[pipeline_s.index(statistics.median_low(pipeline_s))]
    result = {
        "pages": n,
        "distinct_pages": len(pages),
        "articles_loaded_or_quarantined": loaded,
        "pipeline_s": pipeline_s,
        "pipeline_stage_s": stages,
        "bare_extract_s": bare_s,
        "round_ratios": [round(x, 2) for x in round_ratios],
        "pipeline_cpu_s": [round(x, 2) for x in pipeline_cpu],
        "pipeline_cpu_per_bare_s": round(
            statistics.median(c / b for c, b in zip(pipeline_cpu, bare_s, strict=True)), 2
        ),
        "cores": cores,
        "cores_used_share": round(statistics.median(busy), 2),
        "ratio_ceiling": round(statistics.median(ceilings), 2),
        "pipeline_pages_per_s": round(pipe_rate, 1),
        "bare_extract_pages_per_s": round(bare_rate, 1),
        "ratio": round(ratio, 2),
        "ratio_of_medians": round(pipe_rate / bare_rate, 2),
        "target_ratio": 1.5,
        "notes": "per-host delay 0 for the loopback host; GX imported before timing; ratio = median of the "
        "rounds' ratios (pipeline and bare loop back to back, alternating order); pipeline_cpu_s = CPU of "
        "the whole process tree (this process, the loopback server's threads included, and its workers) "
        "during a cycle; ratio_ceiling = median over rounds of bare seconds x cores / pipeline CPU seconds, "
        "the ratio the cycle's CPU would give on perfectly used cores",
    }
    met = ratio >= 1.5
    out = write_result("throughput" if args.copies == 1 else f"throughput_x{args.copies}", result)
    print(
        table(
            [
                ("pipeline pages/s (fetch+extract+classify+validate+load)", f"{pipe_rate:.1f}", "", ""),
                ("bare trafilatura.extract() pages/s (1 core)", f"{bare_rate:.1f}", "", ""),
                ("ratio (median of the rounds' ratios)", f"{ratio:.2f}", ">= 1.5", "yes" if met else "NO"),
                ("  the rounds' ratios", " ".join(f"{x:.2f}" for x in round_ratios), "", ""),
                ("  ratio of the median rates", f"{pipe_rate / bare_rate:.2f}", "", ""),
                (
                    "CPU of a cycle, in bare-loop times (process tree)",
                    f"{result['pipeline_cpu_per_bare_s']:.2f}",
                    "",
                    "",
                ),
                (f"use of the {cores} cores during a cycle", f"{result['cores_used_share']:.0%}", "", ""),
                (
                    "ratio ceiling: that CPU on perfectly used cores",
                    f"{result['ratio_ceiling']:.2f}",
                    "",
                    "",
                ),
            ]
        )
    )
    print("stages of the median round: " + ", ".join(f"{k} {v:.2f} s" for k, v in median_round.items()))
    print(f"per-host politeness delay set to 0 for the loopback host; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
