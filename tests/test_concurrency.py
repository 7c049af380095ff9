"""One writer, analysts at the same time: real processes against real DuckDB files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from newsflow.models import Batch
from newsflow.warehouse import Warehouse, snapshot_path
from test_warehouse import NOW, loaded, make_item, poll

pytestmark = pytest.mark.integration
BATCH = 200


def batch(n: int) -> Batch:
    items = [make_item(n * BATCH + i, feed=f"f{n}") for i in range(BATCH)]
    return Batch(
        polls=[poll(f"f{n}", items, poll_id=f"p{n}")],
        outcomes=[loaded(i, f"Body {i.item_id}") for i in items],
    )


def test_reader_never_sees_a_half_written_batch(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with Warehouse(path) as wh:
        wh.publish()
    out, held = tmp_path / "reader.json", tmp_path / "held.json"
    script = str(ROOT / "tests" / "reader_proc.py")
    reader = subprocess.Popen([sys.executable, script, str(snapshot_path(path)), "6", str(out)])
    holder = subprocess.Popen([sys.executable, script, str(snapshot_path(path)), "5", str(held), "hold"])
    time.sleep(1.0)  # both analysts are in before the loads start
    for n in range(5):
        with Warehouse(path, lock_timeout_s=5) as wh:  # must never wait for the analyst
            stats = wh.load_batch(batch(n), now=NOW)
            wh.publish()
        assert stats.articles_inserted == BATCH
        time.sleep(0.3)
    assert reader.wait(timeout=60) == 0 and holder.wait(timeout=60) == 0
    assert json.loads(held.read_text()) == {"first": 0, "last": 0}  # a held session sees a stable snapshot
    result = json.loads(out.read_text())
    assert result["errors"] == []
    seen = {o["articles"] for o in result["observations"]}
    assert seen <= {n * BATCH for n in range(6)}, seen  # only whole batches, never a part of one
    assert len(seen) >= 3  # it really watched the loads happen
    assert all(o["items"] == o["articles"] and o["violations"] == 0 for o in result["observations"])
    assert max(o["query_s"] for o in result["observations"]) < 5  # never locked out


def test_load_waits_for_a_reader_holding_the_live_file(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with Warehouse(path) as wh:
        wh.load_batch(batch(0), now=NOW)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True);"
            "print('open', flush=True); time.sleep(2); c.close()",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    t0 = time.monotonic()
    with Warehouse(path, lock_timeout_s=30) as wh:  # retries with backoff until the reader lets go
        waited = time.monotonic() - t0
        stats = wh.load_batch(batch(1), now=NOW)
    assert holder.wait(timeout=30) == 0
    assert waited > 0.5 and stats.articles_inserted == BATCH
