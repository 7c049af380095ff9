"""The command line, through a real process where it matters, and the README that documents it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import ROOT
from newsflow.cli import build_parser, main
from newsflow.models import Batch, HostPause
from newsflow.warehouse import Warehouse


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m newsflow demo`: the embedded default end to end in a real process, with the sample site
    on a free port, not the one the packaged feeds file names (the demo points the feeds at it)."""
    home = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, "-m", "newsflow", "demo", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NEWSFLOW_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "sample site: http://127.0.0.1:" in proc.stdout and ":8765 " not in proc.stdout
    assert "3 polled, 0 failed" in proc.stdout
    assert "13 seen, 13 new" in proc.stdout and "1 duplicate" in proc.stdout
    assert "12 loaded" in proc.stdout and "every item accounted for" in proc.stdout
    assert "['aid', 'border', 'diplomacy']" in proc.stdout  # the seed story
    return home / "warehouse.duckdb"


def sql(warehouse: Path, query: str, fmt: str = "table") -> int:
    return main(["sql", "--warehouse", str(warehouse), "--format", fmt, query])


def test_demo_loads_the_sample_site(demo_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        sql(demo_warehouse, "SELECT language, count(*) AS n FROM v_articles GROUP BY 1 ORDER BY 1", "json")
        == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"language": "en", "n": 11}, {"language": "es", "n": 1}]
    assert (
        sql(
            demo_warehouse, "SELECT body FROM v_articles WHERE url LIKE '%us-mexico-migration-talks%'", "json"
        )
        == 0
    )
    (row,) = json.loads(capsys.readouterr().out)
    assert "López Obrador" in row["body"] and "Leave a Reply" not in row["body"]
    assert sql(demo_warehouse, "SELECT topics FROM v_articles WHERE language = 'es'", "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"topics": []}]  # the default lexicons are English


def test_sql_formats_and_read_only(demo_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sql(demo_warehouse, "SELECT status, count(*) AS n FROM items GROUP BY 1 ORDER BY 1", "csv") == 0
    assert capsys.readouterr().out.splitlines() == ["status,n", "duplicate,1", "loaded,12"]
    assert main(["sql", "--warehouse", str(demo_warehouse), "DELETE FROM articles"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "--warehouse", str(demo_warehouse), "SELECT count(*) FROM articles"]) == 0
    assert "12" in capsys.readouterr().out


def test_a_reader_that_stops_early_gets_no_traceback(demo_warehouse: Path) -> None:
    """`newsflow sql ... | head`: the pipe closes while output is still coming."""
    query = "SELECT range AS n FROM range(200000)"
    sql_csv = ["sql", "--warehouse", str(demo_warehouse), "--format", "csv", query]
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsflow", *sql_csv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == b"n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_status(
    demo_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSFLOW_HOME", str(tmp_path))  # the data directory need not hold the warehouse
    assert main(["status", "--warehouse", str(demo_warehouse)]) == 0
    out = capsys.readouterr().out
    assert f"warehouse: {demo_warehouse} (schema v" in out
    assert "feeds:     3 known, 0 failing" in out and "items:     1 duplicate, 12 loaded" in out
    assert "articles:  12 (0 from feed text)" in out and "ledger:    every item accounted for" in out
    assert "last run:" not in out  # only Airflow runs are staged; the demo ran in one process
    assert f"raw HTML in {tmp_path / 'raw'}, staging in {tmp_path / 'staging'}" in out
    assert "paused:" not in out

    # A host that asked for a pause (Retry-After) is shown until the pause ends.
    copy = tmp_path / "w.duckdb"
    shutil.copy(demo_warehouse, copy)
    now = datetime.now(UTC)
    pauses = [HostPause("127.0.0.1:8765", now + timedelta(hours=1), "HTTP 429 with Retry-After: 3600")]
    with Warehouse(copy) as wh:
        wh.load_batch(Batch(host_pauses=pauses), now=now)
    assert main(["status", "--warehouse", str(copy), "--live"]) == 0
    until = pauses[0].until
    expected = (
        f"paused:    127.0.0.1:8765 until {until:%Y-%m-%d %H:%M:%S} UTC (HTTP 429 with Retry-After: 3600)"
    )
    assert expected in capsys.readouterr().out


def test_feeds_health(demo_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeds", "--warehouse", str(demo_warehouse), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {"meridian-world", "meridian-americas", "meridian-briefs"}
    assert all(r["last_status"] == "ok" and r["failures"] == 0 and r["next_poll_at"] for r in rows)


def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - {name: a, url: 'https://x.org/', every: 5}\n")
    assert main(["run", "--feeds", str(bad), "--warehouse", str(tmp_path / "w.duckdb")]) == 2
    assert "feeds.0.every: unknown key" in capsys.readouterr().err
    assert main(["sql", "--warehouse", str(tmp_path / "none.duckdb"), "SELECT 1"]) == 1
    assert "no warehouse yet" in capsys.readouterr().err


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"newsflow {name}" in readme, name
    for target in ("make run", "make test"):
        assert target in readme
