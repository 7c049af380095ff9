"""A separate analyst process for the concurrency tests: queries the published snapshot in a loop.

Usage: python reader_proc.py SNAPSHOT SECONDS OUT.json — a new connection per query, like short sessions.
       python reader_proc.py SNAPSHOT SECONDS OUT.json hold — one session held open the whole time.
(In one process DuckDB shares one database instance per path, so the two kinds need two processes.)
"""

from __future__ import annotations

import json
import sys
import time

import duckdb


def hold(snapshot: str, seconds: float, out: str) -> None:
    con = duckdb.connect(snapshot, read_only=True)
    first = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    time.sleep(seconds)
    last = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    con.close()
    with open(out, "w") as fh:
        json.dump({"first": first, "last": last}, fh)


def main(snapshot: str, seconds: float, out: str) -> None:
    observations, errors = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            con = duckdb.connect(snapshot, read_only=True)
            try:
                t0 = time.monotonic()
                articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
                items = con.execute("SELECT count(*) FROM items").fetchone()[0]
                violations = con.execute("SELECT count(*) FROM v_ledger_violations").fetchone()[0]
                observations.append(
                    {
                        "articles": articles,
                        "items": items,
                        "violations": violations,
                        "query_s": time.monotonic() - t0,
                    }
                )
            finally:
                con.close()
        except Exception as exc:  # recorded, the test asserts there are none
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.01)
    with open(out, "w") as fh:
        json.dump({"observations": observations, "errors": errors}, fh)


if __name__ == "__main__":
    (hold if sys.argv[4:] == ["hold"] else main)(sys.argv[1], float(sys.argv[2]), sys.argv[3])
