"""Drive a real local Airflow deployment: `make airflow`'s own script (``scripts/airflow-standalone.sh``:
airflow standalone with its scheduler, dag-processor, api-server and triggerer, LocalExecutor) started in its
own process group, and its REST API used as an external client would use it.

``make run`` runs the main job through it (``python scripts/airflow_live.py run``); the end-to-end tests
drive it the same way (``tests/test_airflow_executor.py``). Standard library only: it runs beside Airflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"success", "failed"}


class AirflowDown(RuntimeError):
    """The deployment did not come up, or stopped answering."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveAirflow:
    """``bash scripts/airflow-standalone.sh`` (what ``make airflow`` runs) in its own process group."""

    def __init__(
        self,
        airflow_home: Path,
        env: dict[str, str],
        *,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        port = port or free_port()
        self.api = f"http://localhost:{port}"
        self.airflow_home = airflow_home
        self.log_path = log_path or airflow_home / "standalone.log"
        self.env = {  # the caller's Airflow settings do not leak in (a test's own metadata DB, say)
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(airflow_home),
            **env,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": self.api,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    # -- life cycle --------------------------------------------------------------------------------------

    def start(self, timeout: float = 240) -> LiveAirflow:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed with the process)
        self._proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "airflow-standalone.sh")],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AirflowDown(
                    f"airflow standalone exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            try:
                self._login()
                for dag_id in ("news_ingest", "news_curate"):
                    self.call("GET", f"/api/v2/dags/{dag_id}")
                return self
            except (OSError, KeyError, ValueError, urllib.error.URLError):
                time.sleep(2)
        raise AirflowDown(f"airflow standalone not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group (executor workers, tasks)
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc = None

    def __enter__(self) -> LiveAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- REST --------------------------------------------------------------------------------------------

    def _login(self) -> None:
        pw_file = self.airflow_home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(pw_file.read_text())["admin"]
        self._token = self.call("POST", "/auth/token", {"username": "admin", "password": password})[
            "access_token"
        ]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, tries: int = 4) -> Any:
        """One REST call; a 5xx is retried (the standalone api-server shares SQLite with the scheduler)."""
        for attempt in range(tries):
            req = urllib.request.Request(
                self.api + path,
                method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={
                    "Content-Type": "application/json",
                    **({"Authorization": f"Bearer {self._token}"} if self._token else {}),
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=15) as resp:
                    return json.loads(resp.read() or b"{}")
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == tries - 1:
                    raise
                time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(
            self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=start_date&limit=100")["dag_runs"]
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        got = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
        return list(got["task_instances"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once it ended; a run still going at the deadline is a hang, reported with its tasks."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL:
                return dict(run)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s (a hang?); tasks: "
                    + self.describe(dag_id, run_id)
                    + f"\nlast lines of the standalone log:\n{self.log_tail()}"
                )
            time.sleep(1)

    def wait_new_run(self, dag_id: str, known: set[str], timeout: float) -> dict[str, Any]:
        """The first run of ``dag_id`` not in ``known`` (an asset-triggered one, say), once it ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [r for r in self.runs(dag_id) if r["dag_run_id"] not in known]
            if fresh:
                return self.wait_run(dag_id, fresh[0]["dag_run_id"], max(deadline - time.monotonic(), 1))
            time.sleep(1)
        raise AssertionError(f"no new {dag_id} run within {timeout:.0f} s\n{self.log_tail()}")

    def describe(self, dag_id: str, run_id: str) -> str:
        tis = self.task_instances(dag_id, run_id)
        return ", ".join(f"{t['task_id']}[{t.get('map_index', -1)}]={t['state']}" for t in tis)

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> str:
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
            f"?map_index={map_index}&full_content=true"
        )
        got = self.call("GET", path)
        content = got.get("content", got)
        if isinstance(content, list):
            # Each line is a structured record: its event, and any error detail (an exception's message).
            return "\n".join(json.dumps(c) if isinstance(c, dict) else str(c) for c in content)
        return str(content)


def run_main_job(force: bool, timeout_s: float) -> int:
    """``make run``: one ``news_ingest`` run (triggered through the REST API, as a client would) and the
    ``news_curate`` run its Asset event starts, through a real scheduler and LocalExecutor."""
    home = Path(os.environ.get("AIRFLOW_HOME") or ROOT / ".airflow")
    extra = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__")}  # the user's own settings
    airflow = LiveAirflow(
        home, {**extra, "NEWSFLOW_INGEST_SCHEDULE": "none"}, log_path=home / "logs" / "run.log"
    )
    print(f"== airflow standalone on {airflow.api} (log: {airflow.log_path})", flush=True)
    t0 = time.monotonic()
    with airflow:
        print(f"== ready after {time.monotonic() - t0:.0f} s; triggering news_ingest", flush=True)
        curate_before = {r["dag_run_id"] for r in airflow.runs("news_curate")}
        run_id = airflow.trigger("news_ingest", {"force": force})
        ingest = airflow.wait_run("news_ingest", run_id, timeout_s)
        print(
            f"   news_ingest: state={ingest['state']} ({airflow.describe('news_ingest', run_id)})", flush=True
        )
        if ingest["state"] != "success":
            return 1
        if not any(
            t["task_id"] == "stage_complete" and t["state"] == "success"
            for t in airflow.task_instances("news_ingest", run_id)
        ):
            print("   news_ingest staged nothing (no feed was due): no news_curate run", flush=True)
            return 0
        curate = airflow.wait_new_run("news_curate", curate_before, timeout_s)
        print(
            f"   news_curate: state={curate['state']} "
            f"({airflow.describe('news_curate', curate['dag_run_id'])})",
            flush=True,
        )
        return 0 if curate["state"] == "success" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="start airflow standalone, run news_ingest and news_curate once, stop")
    p.add_argument("--force", action="store_true", help="poll every feed now, ignoring its schedule")
    p.add_argument("--timeout", type=float, default=900, help="seconds each DAG run may take (a hang)")
    args = parser.parse_args(argv)
    try:
        return run_main_job(args.force, args.timeout)
    except (AirflowDown, AssertionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
