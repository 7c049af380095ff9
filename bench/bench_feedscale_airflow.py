"""Feed scale through Airflow: N feeds (default 5,000) of one article each on 8 loopback hosts, a first
cycle and a no-change cycle (every feed answers 304) through `make airflow`'s deployment (airflow
standalone: a real scheduler, LocalExecutor, api-server, dag-processor), against the same feeds through
`newsflow run` in the same run (``bench_feedscale.py --feeds N``, a process of its own).

A cycle through Airflow is one `news_ingest` run (triggered through the REST API, `force`) and the
`news_curate` run its Asset event starts, timed from the trigger to the end of the curate run. Reported per
cycle: wall time, the task instances of both runs, and the CPU of the whole process tree (this process, the
loopback hosts' process, every Airflow process and task). Target (issue "Scale out"): a no-change cycle of
5,000 feeds through Airflow within 3x the one-process time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_feedscale import HOSTS, build
from common import REPO, table, tree_cpu_seconds, write_result

sys.path.insert(0, str(REPO / "scripts"))
from airflow_live import LiveAirflow  # noqa: E402

RUN_LIMIT_S = 1800


def cycle(airflow: LiveAirflow) -> dict[str, Any]:
    """One ingest run (forced) and the curate run it starts; wall, task instances, CPU."""
    known = {r["dag_run_id"] for r in airflow.runs("news_curate")}
    cpu0, t0 = tree_cpu_seconds(), time.perf_counter()
    run_id = airflow.trigger("news_ingest", {"force": True})
    ingest = airflow.wait_run("news_ingest", run_id, RUN_LIMIT_S)
    if ingest["state"] != "success":
        raise SystemExit(airflow.describe("news_ingest", run_id))
    ingest_s = time.perf_counter() - t0
    curate = airflow.wait_new_run("news_curate", known, RUN_LIMIT_S)
    wall, cpu = time.perf_counter() - t0, tree_cpu_seconds() - cpu0
    if curate["state"] != "success":
        raise SystemExit(airflow.describe("news_curate", curate["dag_run_id"]))
    tis = airflow.task_instances("news_ingest", run_id)
    curate_tis = airflow.task_instances("news_curate", curate["dag_run_id"])
    per_task: dict[str, int] = {}
    for t in tis:
        per_task[t["task_id"]] = per_task.get(t["task_id"], 0) + 1
    return {
        "wall_s": round(wall, 1),
        "ingest_s": round(ingest_s, 1),
        "cpu_s": round(cpu, 1),
        "task_instances": len(tis) + len(curate_tis),
        "ingest_tasks": per_task,
    }


def through_airflow(root: Path, feeds: int, bases: list[str]) -> dict[str, Any]:
    lines = ["allow_hosts: " + json.dumps([b.removeprefix("http://") for b in bases]), "feeds:"]
    lines += [f"  - {{name: f{n}, url: '{bases[n % HOSTS]}/feeds/f{n}.xml'}}" for n in range(feeds)]
    lines.append("settings: " + json.dumps({"per_host_min_delay_s": 0, "per_host_concurrency": 8}))
    (root / "feeds.yaml").write_text("\n".join(lines) + "\n")
    env = {
        "NEWSFLOW_HOME": str(root / "home"),
        "NEWSFLOW_FEEDS": str(root / "feeds.yaml"),
        "NEWSFLOW_INGEST_SCHEDULE": "none",
        "NEWSFLOW_RETRY_DELAY_S": "5",
    }
    with LiveAirflow(root / "airflow", env) as airflow:
        first = cycle(airflow)
        print(f"  airflow, {feeds} feeds, first cycle: {first}", flush=True)
        no_change = cycle(airflow)
        print(f"  airflow, {feeds} feeds, no-change cycle: {no_change}", flush=True)
    return {"first": first, "no_change": no_change}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        out = root / "one_process.json"
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("bench_feedscale.py")),
                "--feeds",
                str(args.feeds),
                "--out",
                str(out),
            ],
            check=True,
        )
        one = json.loads(out.read_text())
        build(root / "site", args.feeds)
        server = stack.enter_context(
            subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("bench_feedscale.py")),
                    "--serve",
                    str(root / "site"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        assert server.stdout is not None and server.stdin is not None
        bases = json.loads(server.stdout.readline())
        airflow = through_airflow(root, args.feeds, bases)
        server.stdin.close()
    ratio = airflow["no_change"]["wall_s"] / one["no_change"]["wall_s"]
    result = {
        "feeds": args.feeds,
        "hosts": HOSTS,
        "airflow": airflow,
        "one_process": one,
        "no_change_ratio": ratio,
    }
    path = write_result("feedscale_airflow", result)
    rows = [
        (
            f"{args.feeds} feeds, no-change cycle: Airflow / newsflow run",
            f"{airflow['no_change']['wall_s']:.1f} s / {one['no_change']['wall_s']:.1f} s = {ratio:.2f}",
            "<= 3",
            "yes" if ratio <= 3 else "NO",
        ),
        (
            f"{args.feeds} feeds, first cycle: Airflow / newsflow run",
            f"{airflow['first']['wall_s']:.1f} s / {one['first']['wall_s']:.1f} s",
            "",
            "",
        ),
    ]
    for name in ("first", "no_change"):
        c = airflow[name]
        rows.append(
            (
                f"Airflow {name} cycle: task instances, CPU",
                f"{c['task_instances']} ({c['ingest_tasks']}), {c['cpu_s']:.0f} s CPU",
                "",
                "",
            )
        )
    print(table(rows))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
