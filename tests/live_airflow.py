"""A real Airflow deployment for end-to-end tests: `make airflow`'s own script (``airflow standalone``:
scheduler, dag-processor, api-server, triggerer, LocalExecutor) started as a user starts it, driven through
the REST API as an external client would, and a multi-host loopback news site for it to ingest.

Used by ``tests/test_airflow_executor.py``; nothing here runs a task in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsflow.sample_server import StaticSite

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"success", "failed"}


class AirflowDown(RuntimeError):
    """The deployment did not come up, or stopped answering."""


@dataclass
class LiveSite:
    """Feeds spread over several loopback hosts (127.0.0.2, 127.0.0.3, ...), each a real HTTP server."""

    sites: list[StaticSite]
    feeds: list[tuple[str, str]]  # (name, url)
    pages: dict[str, str]  # article URL -> the page file it serves

    @property
    def allow_hosts(self) -> list[str]:
        return [s.base_url.removeprefix("http://") for s in self.sites]

    def feeds_file(self, path: Path, **settings: Any) -> Path:
        lines = ["allow_hosts: " + json.dumps(self.allow_hosts), "feeds:"]
        lines += [f"  - {{name: {name}, url: '{url}'}}" for name, url in self.feeds]
        lines.append("settings: " + json.dumps(settings))
        path.write_text("\n".join(lines) + "\n")
        return path


@contextlib.contextmanager
def news_site(root: Path, pages: Sequence[Path], *, feeds: int, per_feed: int, hosts: int) -> Iterator[LiveSite]:
    """``feeds`` RSS feeds of ``per_feed`` articles each, feed ``n`` on host ``n % hosts``. The articles are
    real pages, each served under as many URLs (``?copy=N``) as it takes: a copy is an article of its own."""
    folders = [root / f"host{h}" for h in range(hosts)]
    for folder in folders:
        (folder / "p").mkdir(parents=True, exist_ok=True)
        (folder / "feeds").mkdir(exist_ok=True)
    wanted = feeds * per_feed
    links = [(pages[i % len(pages)], i // len(pages)) for i in range(wanted)]
    with contextlib.ExitStack() as stack:
        sites = [
            stack.enter_context(StaticSite(folder, port=0, host=f"127.0.0.{h + 2}"))
            for h, folder in enumerate(folders)
        ]
        feed_list, served = [], {}
        for n in range(feeds):
            site, folder = sites[n % hosts], folders[n % hosts]
            entries = ""
            for i, (page, copy) in enumerate(links[n * per_feed : (n + 1) * per_feed]):
                shutil.copy(page, folder / "p" / page.name)
                link = f"{site.base_url}/p/{page.name}?copy={copy}"
                served[link] = page.name
                entries += (
                    f"<item><title>Story {n}-{i}</title><link>{link}</link><guid>{link}</guid>"
                    f"<pubDate>Wed, 25 Nov 2026 10:{i % 60:02d}:00 GMT</pubDate></item>"
                )
            (folder / "feeds" / f"f{n}.xml").write_text(
                "<?xml version='1.0'?><rss version='2.0'><channel>"
                f"<title>Feed {n}</title>{entries}</channel></rss>"
            )
            feed_list.append((f"f{n}", f"{site.base_url}/feeds/f{n}.xml"))
        yield LiveSite(sites=sites, feeds=feed_list, pages=served)


class LiveAirflow:
    """``bash scripts/airflow-standalone.sh`` (what ``make airflow`` runs) in its own process group."""

    def __init__(self, root: Path, env: dict[str, str], port: int = 8080) -> None:
        self.root = root
        self.api = f"http://localhost:{port}"
        self.airflow_home = root / "airflow"
        self.log_path = root / "standalone.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__API__PORT": str(port),
            **env,
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    # -- life cycle --------------------------------------------------------------------------------------

    def start(self, timeout: float = 240) -> LiveAirflow:
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
            return "\n".join(str(c.get("event", c)) if isinstance(c, dict) else str(c) for c in content)
        return str(content)
