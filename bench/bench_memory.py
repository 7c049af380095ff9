"""Memory: peak memory of one task processing 1,000 articles, over the task's whole process tree (the task
process plus its extraction workers), sampled every 20 ms with psutil: PSS (each shared page counted once,
split between the processes sharing it) and, for reference, RSS summed (shared pages counted per process).

Task 1 is news_ingest's fetch stage on a batch of 1,000 items (the 181 real pages served under distinct URLs);
task 2 is news_curate's validate stage on the same 1,000 articles (Great Expectations imported).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import REPO, aeb_pages, build_site, feeds_file, table, write_result

CHILD = """
import sys, json
sys.path.insert(0, {include!r})
from pathlib import Path
from newsflow import run as stages
from newsflow.config import load_feeds_file
cfg = load_feeds_file({cfg!r})
home = Path({home!r})
if sys.argv[1] == "fetch":
    print(json.dumps(stages.fetch_stage(cfg, {batch!r}, home=home)))
else:
    result = stages.validate_runs([{run!r}], home=home, topic_names=["border", "diplomacy", "aid"])
    print(json.dumps(result["verdicts"]))
"""


def peak_memory(cmd: list[str]) -> tuple[int, int, float, str]:
    """(peak PSS, peak summed RSS, seconds, stdout) of a command's process tree."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    pss_peak = rss_peak = 0
    t0 = time.perf_counter()
    while proc.poll() is None:
        try:
            infos = [p.memory_full_info() for p in [root, *root.children(recursive=True)]]
            pss_peak = max(pss_peak, sum(i.pss for i in infos))
            rss_peak = max(rss_peak, sum(i.rss for i in infos))
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"task failed: {err[-2000:]}")
    return pss_peak, rss_peak, time.perf_counter() - t0, out.strip()


def main() -> int:
    from newsflow import run as stages
    from newsflow.config import load_feeds_file
    from newsflow.quality import ensure_project
    from newsflow.sample import StaticSite

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        feed_paths = build_site(root / "site", aeb_pages(), feeds=1, copies=6)
        with StaticSite(root / "site", port=0) as site:
            cfg_path = feeds_file(
                root / "feeds.yaml",
                site,
                feed_paths,
                per_host_min_delay_s=0,
                per_host_concurrency=8,
                max_items_per_feed=1000,
            )
            cfg = load_feeds_file(cfg_path)
            home = root / "home"
            ensure_project(home)
            specs = stages.plan_polls(cfg, home / "warehouse.duckdb", force=True)
            stages.poll_stage(cfg, specs[0], run_id="mem", home=home)
            (batch,) = stages.plan_stage(
                cfg, run_id="mem", home=home, warehouse=home / "w.duckdb", batch_size=1000
            )
            run = str(stages.run_dir(home, "mem"))
            code = CHILD.format(
                include=str(REPO / "include"), cfg=str(cfg_path), home=str(home), batch=batch, run=run
            )
            fetch_peak, fetch_rss, fetch_s, fetched = peak_memory([sys.executable, "-c", code, "fetch"])
            stages.finish_ingest(run_id="mem", home=home)
            stages.classify_pending(cfg, home=home)
            validate_peak, validate_rss, validate_s, verdicts = peak_memory(
                [sys.executable, "-c", code, "validate"]
            )
    mb = 1024 * 1024
    result = {
        "articles": 1000,
        "fetch_task_peak_pss_mb": round(fetch_peak / mb),
        "fetch_task_peak_rss_sum_mb": round(fetch_rss / mb),
        "fetch_task_s": round(fetch_s, 1),
        "fetch_result": fetched,
        "validate_task_peak_pss_mb": round(validate_peak / mb),
        "validate_task_peak_rss_sum_mb": round(validate_rss / mb),
        "validate_task_s": round(validate_s, 1),
        "validate_result": verdicts,
    }
    out = write_result("memory", result)
    print(
        table(
            [
                (
                    "fetch+extract task, 1,000 articles: peak PSS",
                    f"{fetch_peak / mb:.0f} MB",
                    "< 600 MB",
                    "yes" if fetch_peak < 600 * mb else "NO",
                ),
                ("  (RSS summed over its 3 processes)", f"{fetch_rss / mb:.0f} MB", "", ""),
                (
                    "validate task (GX), 1,000 articles: peak PSS",
                    f"{validate_peak / mb:.0f} MB",
                    "< 600 MB",
                    "yes" if validate_peak < 600 * mb else "NO",
                ),
                ("  (RSS summed)", f"{validate_rss / mb:.0f} MB", "", ""),
            ]
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
