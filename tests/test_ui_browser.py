"""The UI plugin in a real browser: Airflow's api-server with the plugin, headless Debian Chromium over CDP.

The data directory is made by the real pipeline (:func:`test_reports.build_home`, shared with
``test_reports.py``). The api-server runs in
its own process group against a throw-away ``AIRFLOW_HOME``; the test logs in as the simple auth manager's
``admin`` (``POST /auth/token``, and the ``_token`` cookie the UI's login sets), opens the Data Quality and
Warehouse pages, a GX Data Docs page and the Airflow UI's own plugin view, checks what they show, that every
request the browser made stayed on loopback and none failed, and saves screenshots to ``artifacts/ui/``.
Chromium also runs with every non-loopback host name mapped to "not found", as a second fence.

Skipped when ``/usr/bin/chromium`` is missing (``scripts/install-sysdeps.sh`` installs it).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from newsflow.warehouse import Warehouse
from test_reports import INGEST_RUN_ID, shared_home

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "ui"
AIRFLOW = Path(sys.executable).with_name("airflow")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (scripts/install-sysdeps.sh)"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM to the process group started for ``proc``, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# -- the api-server --------------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    token: str
    home: Path
    log: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the Airflow REST API as admin; returns the decoded JSON."""
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())

    def get(self, path: str, token: str | None = None, cookie: bool = False) -> tuple[int, bytes]:
        """GET ``path`` exactly as given (no dot-segment normalisation): (status, body)."""
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        headers = {"Accept": "text/html"}
        if token and cookie:
            headers["Cookie"] = f"_token={token}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if not AIRFLOW.exists():
        pytest.skip(f"{AIRFLOW} not found")
    tmp = Path(tempfile.mkdtemp(prefix="newsflow-ui-"))
    try:
        home = shared_home()
        airflow_home = tmp / "airflow"
        airflow_home.mkdir()
        port = _free_port()
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "NEWSFLOW_HOME": str(home),
        }
        env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
        log = airflow_home / "api-server.log"
        migrate = subprocess.run(
            [str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=120
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        # The DAGs in the metadata DB (what the dag-processor would do), so runs can be created over REST.
        parsed = subprocess.run(
            [str(AIRFLOW), "dags", "reserialize"], env=env, capture_output=True, text=True, timeout=120
        )
        assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(AIRFLOW), "api-server", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, f"api-server exited: {log.read_text()[-3000:]}"
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2) as r:
                        if r.status == 200:
                            break
                assert time.monotonic() < deadline, f"api-server not ready: {log.read_text()[-3000:]}"
                time.sleep(0.5)
            passwords = json.loads(
                (airflow_home / "simple_auth_manager_passwords.json.generated").read_text()
            )
            request = urllib.request.Request(
                f"{base}/auth/token",
                data=json.dumps({"username": "admin", "password": passwords["admin"]}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as r:
                token = json.loads(r.read())["access_token"]
            yield Server(base, token, home, log)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- a small Chrome DevTools Protocol client --------------------------------------------------------------


@dataclass
class Browser:
    """One page of headless Chromium driven over CDP; records every request the page makes."""

    ws: Any
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _next_id: int = 0
    _loaded: bool = False

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        msg_id = self._next_id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.failures.append(f"{params.get('errorText')} ({params.get('requestId')})")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.failures.append(f"HTTP {params['response']['status']} {params['response']['url']}")
        elif method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Page.loadEventFired":
            self._loaded = True

    def pump(self, seconds: float) -> None:
        """Process events for ``seconds`` (lets scripts and late requests run)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self._event(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def open(self, url: str, settle: float = 1.0, timeout: float = 45) -> None:
        self._loaded = False
        result = self.call("Page.navigate", url=url)
        assert not result.get("errorText"), f"{url}: {result}"
        deadline = time.monotonic() + timeout
        while not self._loaded:
            assert time.monotonic() < deadline, f"{url}: no load event"
            self.pump(0.2)
        self.pump(settle)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := self.js(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            self.pump(0.25)
        return value

    def screenshot(self, name: str, width: int = 1280, max_height: int = 4000) -> Path:
        height = int(self.js("Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"))
        height = min(max(height, 600), max_height)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.pump(0.3)
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)[
            "data"
        ]
        self.call("Emulation.clearDeviceMetricsOverride")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(data))
        return path


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    from websockets.sync.client import connect

    profile = Path(tempfile.mkdtemp(prefix="newsflow-chromium-"))
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--window-size=1280,900",
        "about:blank",
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            assert proc.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            page = Browser(ws)
            page.call("Network.enable")
            page.call("Page.enable")
            page.call("Runtime.enable")
            page.call("Network.setCookie", name="_token", value=server.token, url=server.base, httpOnly=True)
            yield page
    finally:
        _stop(proc, timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def _assert_stayed_local(page: Browser) -> None:
    assert page.requests, "the browser recorded no request"
    outside = [u for u in page.requests if not _local(u)]
    assert outside == [], f"requests left loopback: {outside}"
    assert page.failures == [], f"failed requests: {page.failures}"


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOOPBACK_HOSTS or f"[{parts.hostname}]" in LOOPBACK_HOSTS


# -- tests --------------------------------------------------------------------------------------------------


def test_login_is_required(server: Server) -> None:
    for path in (
        "/newsflow/quality",
        "/newsflow/warehouse",
        "/newsflow/dags/news_curate",
        f"/newsflow/runs/news_ingest/{quote(INGEST_RUN_ID, safe='')}",
        "/newsflow/docs/index.html",
    ):
        status, _ = server.get(path)
        assert status == 401, path
        status, _ = server.get(path, token="not-a-jwt")
        assert status == 403, path
        status, _ = server.get(path, token=server.token)
        assert status == 200, path
        status, _ = server.get(path, token=server.token, cookie=True)
        assert status == 200, path
    # Static assets only (open-source libraries, GX's own styles): sandboxed Data Docs load them cookieless.
    for path in (
        "/newsflow/static/vendor/jquery@3.7.1/dist/jquery.min.js",
        "/newsflow/docs/static/styles/data_docs_default_styles.css",
    ):
        status, _ = server.get(path)
        assert status == 200, path


def test_path_traversal_is_refused(server: Server) -> None:
    site = server.home / "quality" / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert (site / "../../../../../warehouse.duckdb").resolve().is_file()  # the target exists
    for path in (
        "/newsflow/docs/../../../../../warehouse.duckdb",
        "/newsflow/docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/warehouse.duckdb",
        "/newsflow/docs/..%2f..%2f..%2f..%2f..%2fwarehouse.duckdb",
        f"/newsflow/docs/{quote(str(server.home / 'warehouse.duckdb'), safe='')}",
        "/newsflow/static/vendor/../../pages.py",
        "/newsflow/static/vendor/%2e%2e/%2e%2e/pages.py",
    ):
        status, body = server.get(path, token=server.token)
        assert status == 404, path
        assert b"Not found." in body, path  # refused by the plugin, not by routing


def test_quality_page_in_browser(server: Server, browser: Browser) -> None:
    browser.requests.clear()
    browser.open(f"{server.base}/newsflow/quality")
    runs = browser.js("[...document.querySelectorAll('tr.run')].map(r => [r.dataset.runId, r.dataset.suite])")
    staged = INGEST_RUN_ID.replace(":", "_").replace("+", "_")
    assert [staged, "articles"] in runs
    assert len({r[0] for r in runs}) == 3 and len(runs) == 6
    failing = browser.js("[...document.querySelectorAll('tr.run.failing')].map(r => r.dataset.suite)")
    assert failing == ["articles", "articles"]
    assert browser.js("document.querySelectorAll('svg[data-chart=\"pass-rate\"] circle.point').length") == 6
    assert (
        browser.js("document.querySelector('svg[data-chart=\"pass-rate\"]').getBoundingClientRect().height")
        > 100
    )
    reasons = browser.js("[...document.querySelectorAll('.reason')].map(r => r.dataset.expectation)")
    assert reasons[:2] == ["published_at_not_future", "title_length"]
    assert browser.js("document.querySelectorAll('.reason tr.example').length") >= 2
    assert browser.js("document.querySelectorAll('a.docs').length") == 6
    browser.screenshot("data-quality")
    _assert_stayed_local(browser)
    assert browser.errors == []


def test_warehouse_page_in_browser(server: Server, browser: Browser) -> None:
    browser.requests.clear()
    browser.open(f"{server.base}/newsflow/warehouse")
    assert browser.js("document.getElementById('articles-total').textContent.trim()") == "18"
    with Warehouse(server.home / "warehouse.published.duckdb", read_only=True) as wh:
        (stories,) = wh.query("SELECT count(DISTINCT story_id) FROM articles")[1][0]
    assert browser.js("document.getElementById('stories-total').textContent.trim()") == str(stories)
    assert browser.js("document.querySelectorAll('table.republished tbody tr').length") == 1
    assert (
        browser.js("document.querySelectorAll('svg[data-chart=\"articles-per-day\"] rect.seg').length") >= 5
    )
    feeds = browser.js("[...document.querySelectorAll('tr.feed')].map(r => r.dataset.feed)")
    assert feeds[0] == "gone-gazette" and len(feeds) == 6  # the failing feed first
    assert browser.js("document.querySelector('tr.feed').classList.contains('failing')")
    assert browser.js("document.querySelectorAll('table.top-feeds tbody tr').length") == 5
    browser.screenshot("warehouse")
    _assert_stayed_local(browser)
    assert browser.errors == []


def test_data_docs_render_offline(server: Server, browser: Browser) -> None:
    browser.open(f"{server.base}/newsflow/quality")
    row = "[...document.querySelectorAll('tr.run.failing')].find(r => r.innerText.includes('title_length'))"
    href = browser.js(f"{row}.querySelector('a.docs').href")
    run_id = browser.js(f"{row}.dataset.runId")
    browser.requests.clear()
    browser.open(href, settle=1.5)
    assert browser.js("typeof window.jQuery") == "function"
    assert browser.js("typeof window.vegaEmbed") == "function"
    # Bootstrap's stylesheet and Font Awesome's web font were served locally and applied.
    assert browser.js("getComputedStyle(document.body).fontFamily").startswith("-apple-system")
    assert browser.js("document.fonts.load('900 16px \"Font Awesome 6 Free\"').then(f => f.length)") >= 1
    text = browser.js("document.body.innerText")
    assert "Expectation Validation Result" in text and run_id in text
    # GX writes the failing title into the page unescaped, so its script ran: but sandboxed, without the
    # Airflow session (an opaque origin; cookies unreadable and not sent).
    assert browser.js("window.__nf_probe") == 1
    assert browser.js("window.origin") == "null"
    assert browser.js("window.__nf_cookie") == "blocked"
    browser.screenshot("data-docs-validation")
    _assert_stayed_local(browser)
    assert browser.errors == []

    browser.requests.clear()
    browser.open(f"{server.base}/newsflow/docs/index.html", settle=1.0)
    rows = browser.wait_for("document.querySelectorAll('table tbody tr[data-index]').length")
    assert rows >= 6  # bootstrap-table drew one row per validation result: JavaScript ran offline
    browser.screenshot("data-docs-index")
    _assert_stayed_local(browser)
    assert browser.errors == []


def test_run_report_and_airflow_ui(server: Server, browser: Browser) -> None:
    browser.requests.clear()
    browser.open(f"{server.base}/newsflow/runs/news_ingest/{quote(INGEST_RUN_ID, safe='')}")
    assert browser.js("document.querySelectorAll('tr.run').length") == 2
    assert browser.js("document.querySelectorAll('tr.run.failing').length") == 0
    browser.screenshot("run-report")
    _assert_stayed_local(browser)

    # The Airflow UI itself, with the plugin's nav entry showing the page in its iframe.
    browser.requests.clear()
    browser.open(f"{server.base}/plugin/newsflow-quality", settle=2.0)
    frame_runs = browser.wait_for(
        "(() => { const f = document.querySelector('iframe');"
        " return f && f.contentDocument && f.contentDocument.querySelectorAll('tr.run').length; })()"
    )
    assert frame_runs == 6
    browser.pump(1.0)
    browser.screenshot("airflow-nav-data-quality", max_height=1400)
    _assert_stayed_local(browser)


def test_dag_tab_and_validate_extra_link(server: Server, browser: Browser) -> None:
    """A news_curate run whose validate task returned the staged run: its tab, report and extra link."""
    run_id = "manual__2026-11-21T09:00:00+00:00"
    server.api("POST", "/api/v2/dags/news_curate/dagRuns", {"dag_run_id": run_id, "logical_date": None})
    staged = INGEST_RUN_ID.replace(":", "_").replace("+", "_")
    # What validate returns ({"runs": [staging folders], ...}), stored as its XCom (no scheduler runs here).
    server.api(
        "POST",
        f"/api/v2/dags/news_curate/dagRuns/{quote(run_id, safe='')}/taskInstances/validate/xcomEntries",
        {"key": "return_value", "value": {"runs": [str(server.home / "staging" / staged)], "verdicts": []}},
    )
    runs = f"/api/v2/dags/news_curate/dagRuns/{quote(run_id, safe='')}/taskInstances"
    link = server.api("GET", f"{runs}/validate/links")["extra_links"]["Quality report"]
    assert link == f"/newsflow/runs/news_curate/{quote(run_id, safe='')}"
    assert server.api("GET", f"{runs}/load/links")["extra_links"]["Quality report"] is None

    browser.requests.clear()
    browser.open(f"{server.base}{link}")
    assert browser.js("[...document.querySelectorAll('tr.run')].map(r => r.dataset.runId)") == [
        staged,
        staged,
    ]
    _assert_stayed_local(browser)

    # The DAG tab in the Airflow UI: the run, with its validation summary, in the plugin's iframe.
    browser.requests.clear()
    browser.open(f"{server.base}/dags/news_curate/plugin/newsflow-dag-quality", settle=2.0)
    cells = browser.wait_for(
        "(() => { const f = document.querySelector('iframe'); const d = f && f.contentDocument;"
        " const row = d && d.querySelector('table.dag-runs tbody tr');"
        " return row && [...row.querySelectorAll('td')].map(c => c.innerText.trim()); })()"
    )
    assert cells[0] == run_id and cells[3] == "1" and "all pass" in cells[4]
    browser.pump(0.5)
    browser.screenshot("airflow-dag-tab", max_height=900)
    _assert_stayed_local(browser)
