"""DAG parse time: each DAG file in a fresh interpreter, 5 times; the file itself (after `airflow.sdk` is
imported, as in the dag-processor, which has Airflow loaded) and, for reference, the whole process."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from common import REPO, table, write_result

CODE = """
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
runpy.run_path(sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"sdk_import_s": t1 - t0, "dag_file_s": t2 - t1}))
"""


def main() -> int:
    dags = REPO / "dags"
    results = {}
    for path in sorted(dags.glob("news_*.py")):
        runs = []
        for _ in range(5):
            out = subprocess.run(
                [sys.executable, "-c", CODE, str(dags), str(path)], capture_output=True, text=True, check=True
            ).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        results[path.name] = {
            "dag_file_s": round(statistics.median(r["dag_file_s"] for r in runs), 3),
            "with_airflow_import_s": round(
                statistics.median(r["dag_file_s"] + r["sdk_import_s"] for r in runs), 3
            ),
        }
    out = write_result("parse", {"files": results, "runs": 5, "statistic": "median"})
    print(
        table(
            [
                (
                    f"parse {name} (Airflow loaded / fresh interpreter incl. import)",
                    f"{r['dag_file_s']:.3f} s / {r['with_airflow_import_s']:.2f} s",
                    "< 1 s",
                    "yes" if r["dag_file_s"] < 1 else "NO",
                )
                for name, r in results.items()
            ]
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
