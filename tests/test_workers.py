"""Worker processes start inside any host process and never hang or lose a call (newsflow.workers.pool)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT
from newsflow.workers import WorkerCrashed, WorkerPool, WorkerTimeout

pytestmark = pytest.mark.integration


# Module-level, so worker processes can unpickle them by name.
def _pid() -> int:
    return os.getpid()


def _die_once(marker: str) -> int:
    """Kill the worker running it the first time (as a crash in lxml would), answer the next time."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(9)
    return os.getpid()


def _die_in_workers(parent: int) -> None:
    """An initializer that kills every worker at start, but not the parent (a pool that cannot start)."""
    if os.getpid() != parent:
        os._exit(3)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_workers_start_where_the_main_module_cannot_be_imported_again(tmp_path: Path) -> None:
    """Under Airflow the parent's ``__main__`` is the ``airflow`` command, whose import fails inside a task
    process. Workers must not import it: here a main module that refuses to be imported a second time."""
    script = tmp_path / "host_main.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            if __name__ != "__main__":
                raise SystemExit("the parent's main module was imported again in a worker")
            sys.path.insert(0, {str(ROOT / "include")!r})
            from newsflow.workers import WorkerPool
            with WorkerPool(2) as pool:
                pids = set([pool.call(os.getpid) for _ in range(8)])
                print("in-process" if pool.in_process else "workers", len(pids), os.getpid() in pids)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    mode, _, in_parent = out.stdout.split()
    assert (mode, in_parent) == ("workers", "False"), out.stderr


def test_a_worker_killed_mid_batch_is_replaced_and_its_call_retried(tmp_path: Path) -> None:
    with WorkerPool(2) as pool:
        first = pool.call(_pid)
        assert pool.call(_die_once, str(tmp_path / "died")) != os.getpid()
        assert pool.stats.restarts == 1 and not pool.in_process
        assert pool.call(_pid) != first  # a fresh pool
        assert pool.map(_sleep, [0.0, 0.01, 0.0]) == [0.0, 0.01, 0.0]


def test_a_call_that_kills_every_worker_fails_alone(tmp_path: Path) -> None:
    with WorkerPool(2) as pool:
        with pytest.raises(WorkerCrashed, match="died twice"):
            pool.call(os._exit, 9)
        assert pool.call(_pid) != os.getpid()  # the others go on, in workers


def test_a_pool_that_cannot_start_fails_fast_to_this_process() -> None:
    t0 = time.monotonic()
    with WorkerPool(2, initializer=_die_in_workers, initargs=(os.getpid(),)) as pool:
        assert pool.call(_pid) == os.getpid()
        assert pool.in_process and "could not start" in (pool.stats.fallback or "")
        assert pool.map(_sleep, [0.0, 0.0]) == [0.0, 0.0]
    assert time.monotonic() - t0 < 30


def test_a_call_past_its_time_limit_kills_its_workers_and_the_pool_goes_on() -> None:
    with WorkerPool(2, call_timeout_s=1) as pool:
        stuck = pool.call(_pid)
        t0 = time.monotonic()
        with pytest.raises(WorkerTimeout):
            pool.call(_sleep, 60)
        assert time.monotonic() - t0 < 20
        assert pool.call(_pid) not in (stuck, os.getpid())
    with pytest.raises(ProcessLookupError):
        os.kill(stuck, 0)  # the stuck worker's pool was killed, not left behind


def test_workers_that_keep_dying_leave_the_rest_to_this_process(tmp_path: Path) -> None:
    with WorkerPool(2, max_restarts=1) as pool:
        assert pool.call(_die_once, str(tmp_path / "died-0")) != os.getpid()  # retried on a fresh pool
        with pytest.raises(WorkerCrashed, match="no fresh one"):  # never risk this process on a killer
            pool.call(_die_once, str(tmp_path / "died-1"))
        assert pool.in_process and pool.stats.restarts == 2
        assert pool.call(_pid) == os.getpid()


def test_a_hosts_cores_are_shared_among_the_tasks_it_runs_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from newsflow.config import load_feeds_file
    from newsflow.workers import cpu_workers

    settings = load_feeds_file().settings  # extract_workers: 0
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("NEWSFLOW_TASK_SLOTS", raising=False)
    assert cpu_workers(settings) == 8
    monkeypatch.setenv("NEWSFLOW_TASK_SLOTS", "4")
    assert cpu_workers(settings) == 2
    monkeypatch.setenv("NEWSFLOW_TASK_SLOTS", "16")
    assert cpu_workers(settings) == 1
    monkeypatch.setenv("NEWSFLOW_TASK_SLOTS", "many")
    assert cpu_workers(settings) == 8
    assert cpu_workers(settings.model_copy(update={"extract_workers": 3})) == 3  # a fixed number wins
