"""Freshness: with `airflow standalone` running, the time from a new item appearing in a served feed to its
row in `v_articles` (the analysts' published snapshot), when ingestion is triggered from outside through the
REST API (POST /api/v2/dags/news_ingest/dagRuns with the feed's name); p50 and max over 5 tries."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import REPO, aeb_pages, table, write_result

API = "http://localhost:8080"


def call(method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:  # type: ignore[type-arg]
    req = urllib.request.Request(
        API + path,
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def trigger(token: str, attempts: int = 4) -> None:
    """Trigger news_ingest for the feed, as an external client would: retrying a 5xx answer (the standalone
    api-server shares one SQLite file with the scheduler and can answer 500 on a lock)."""
    for attempt in range(attempts):
        try:
            call(
                "POST",
                "/api/v2/dags/news_ingest/dagRuns",
                {"logical_date": None, "conf": {"feeds": ["fresh"]}},
                token=token,
            )
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts - 1:
                raise
            print(f"  trigger answered HTTP {exc.code}; retrying", flush=True)
            time.sleep(1 + attempt)


def write_feed(site: Path, pages: list[Path], n: int) -> None:
    entries = "".join(
        f"<item><title>Fresh {i}</title><link>{{{{BASE_URL}}}}/p/{pages[i].name}</link><guid>fresh-{i}</guid>"
        f"<pubDate>Wed, 25 Nov 2026 10:{i:02d}:00 GMT</pubDate></item>"
        for i in range(n)
    )
    tmp = site / ".feed.xml"
    tmp.write_text(f"<rss version='2.0'><channel><title>Fresh</title>{entries}</channel></rss>")
    tmp.replace(site / "feed.xml")


def main() -> int:
    import shutil

    from newsflow.sample_server import StaticSite
    from newsflow.warehouse import open_for_reading

    pages = aeb_pages()[:6]
    latencies = []
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        (root / "site" / "p").mkdir(parents=True)
        for p in pages:
            shutil.copy(p, root / "site" / "p" / p.name)
        write_feed(root / "site", pages, 1)
        with StaticSite(root / "site", port=0) as site:
            (root / "feeds.yaml").write_text(
                f"allow_hosts: ['127.0.0.1:{site.port}']\nfeeds:\n"
                f"  - {{name: fresh, url: '{site.base_url}/feed.xml'}}\n"
                "settings: {per_host_min_delay_s: 0}\n"
            )
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(root / "airflow"),
                "NEWSFLOW_HOME": str(root / "home"),
                "NEWSFLOW_FEEDS": str(root / "feeds.yaml"),
                "NEWSFLOW_INGEST_SCHEDULE": "@daily",
            }
            setup = f"source {REPO}/scripts/airflow-env.sh && newsflow_airflow_setup"
            subprocess.run(["bash", "-c", setup], env=env, check=True)
            log = open(root / "standalone.log", "w")
            proc = subprocess.Popen(
                ["bash", "-c", f"source {REPO}/scripts/airflow-env.sh && exec airflow standalone"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                token = None
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    try:
                        pw_file = root / "airflow" / "simple_auth_manager_passwords.json.generated"
                        password = json.loads(pw_file.read_text())["admin"]
                        token = call("POST", "/auth/token", {"username": "admin", "password": password})[
                            "access_token"
                        ]
                        call("GET", "/api/v2/dags/news_ingest", token=token)
                        call("GET", "/api/v2/dags/news_curate", token=token)
                        break
                    except Exception:
                        time.sleep(2)
                if token is None:
                    raise SystemExit("airflow standalone did not come up; see its log")
                # wait for the first (unpause) run to finish so each try measures one item alone
                time.sleep(20)
                for n in range(1, 6):
                    write_feed(root / "site", pages, n + 1)
                    t0 = time.monotonic()
                    trigger(token)
                    url = f"{site.base_url}/p/{pages[n].name}"
                    while time.monotonic() - t0 < 300:
                        wh = open_for_reading(root / "home" / "warehouse.duckdb")
                        if wh is not None:
                            with wh:
                                if wh.query("SELECT count(*) FROM v_articles WHERE url = ?", [url])[1][0][0]:
                                    break
                        time.sleep(0.5)
                    else:
                        raise SystemExit(f"try {n}: the item never reached v_articles")
                    latencies.append(time.monotonic() - t0)
                    print(f"try {n}: {latencies[-1]:.1f} s", flush=True)
            except BaseException:
                log.flush()
                tail = (root / "standalone.log").read_text(errors="replace").splitlines()[-40:]
                print("last lines of the airflow standalone log:\n" + "\n".join(tail), flush=True)
                raise
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
                with contextlib.suppress(ProcessLookupError):  # stragglers of the group (workers)
                    os.killpg(proc.pid, signal.SIGKILL)
    p50 = statistics.median(latencies)
    out = write_result(
        "freshness",
        {"tries": latencies, "p50_s": round(p50, 1), "max_s": round(max(latencies), 1), "target_p50_s": 60},
    )
    print(
        table(
            [
                (
                    "freshness p50 (new item -> v_articles, REST trigger)",
                    f"{p50:.1f} s",
                    "< 60 s",
                    "yes" if p50 < 60 else "NO",
                ),
                ("freshness max over 5 tries", f"{max(latencies):.1f} s", "", ""),
            ]
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
