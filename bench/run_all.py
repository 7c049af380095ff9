"""`make bench`: every benchmark in turn; each prints its table and writes bench/results/<name>.json,
and this writes the combined bench/results/bench.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from common import RESULTS, machine

BENCHES: dict[str, list[str]] = {
    "throughput": ["bench_throughput.py"],
    # the same pages under 905 URLs: larger batches (3 rounds: each takes ~30 s)
    "throughput_x5": ["bench_throughput.py", "--copies", "5", "--rounds", "3"],
    "nochange": ["bench_nochange.py"],
    # 2,000 and 10,000 feeds, first and no-change cycle, one process each (about 8 minutes)
    "feedscale": ["bench_feedscale.py"],
    # 5,000 feeds through airflow standalone (LocalExecutor) against newsflow run, first and no-change cycle
    "feedscale_airflow": ["bench_feedscale_airflow.py"],
    "scale": ["bench_scale.py"],
    "memory": ["bench_memory.py"],
    "parse": ["bench_parse.py"],
    "freshness": ["bench_freshness.py"],
    "quality": ["bench_quality.py"],
    "dates": ["bench_dates.py"],
    "stories": ["bench_stories.py"],
    # story clustering per article in warehouses of 1,000, 100,000 and 1,000,000 articles
    "story_scale": ["bench_story_scale.py"],
}


def main() -> int:
    if unknown := [n for n in sys.argv[1:] if n not in BENCHES]:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    failed = []
    for name in sys.argv[1:] or BENCHES:
        print(f"\n== {name}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, *BENCHES[name]])
        print(f"({time.perf_counter() - t0:.0f} s)")
        if code:
            failed.append(name)
    combined = {"machine": machine(), "results": {}}
    for name in BENCHES:
        path = RESULTS / f"{name}.json"
        if path.exists():
            combined["results"][name] = json.loads(path.read_text())
    (RESULTS / "bench.json").write_text(json.dumps(combined, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'bench.json'}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
