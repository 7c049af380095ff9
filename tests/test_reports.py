"""Reports and offline Data Docs on a warehouse and GX project produced by the real pipeline.

:func:`build_home` (also used by ``test_ui_browser.py``) runs the pipeline three times on loopback servers:
the Airflow stage functions on the bundled sample site (plus a feed that answers 404), then two one-process
cycles on wire feeds whose bad rows are quarantined (2 of 6: a future date, a title too long; then 3 of 5,
over the gate's threshold). Every row the pages show comes from those runs. The plugin's FastAPI app is
exercised in-process here (auth is checked for real in ``test_ui_browser.py``).
"""

from __future__ import annotations

import atexit
import base64
import email.utils
import hashlib
import html
import importlib.util
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest

from httpserver import TestServer
from newsflow.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FILE = ROOT / "plugins" / "newsflow_plugin.py"
INGEST_RUN_ID = "manual__2026-11-20T08:00:00+00:00"
"""The Airflow-style run id of the staged ingest run (its staging folder name is the validation run id)."""
STAGED = "manual__2026-11-20T08_00_00_00_00"
"""``newsflow.run.run_dir(home, INGEST_RUN_ID).name``."""

pytestmark = pytest.mark.integration

_PAGE = (
    "<html lang='en'><head><title>{t}</title></head><body><article><h1>{t}</h1>{p}</article></body></html>"
)
_STORY = (
    "Border guards stopped a boat carrying 40 Haitians near the frontier crossing, and the asylum seekers "
    "were taken to a reception centre while the border agency reviewed their claims. "
)
PROBE = (
    "<script>window.__nf_probe = 1; try { window.__nf_cookie = String(document.cookie) } "
    'catch (e) { window.__nf_cookie = "blocked" }</script>'
)
"""Markup in a title: GX 1.24 writes failing values into Data Docs unescaped, so this runs there."""
LONG_TITLE = f"Border talks {PROBE} " + "and a headline that never ends " * 40
"""Over quality.MAX_TITLE_CHARS: the row fails ``title_length`` (and its value lands in Data Docs)."""
HOSTILE_TITLE = 'Late <script>alert("x")</script> & <b>more</b>'
"""The future-dated item's title: it reaches the quarantine examples and must come out escaped."""


def _page(slug: str) -> bytes:
    title = {"longtitle": LONG_TITLE, "late": HOSTILE_TITLE}.get(slug, slug)
    paragraphs = "".join(f"<p>{slug}, part {n}: {_STORY * 2}</p>" for n in range(4))
    return _PAGE.format(t=html.escape(title), p=paragraphs).encode()


def _wire(srv: TestServer, name: str, items: list[tuple[str, datetime]]) -> None:
    entries = "".join(
        f"<item><title>{t}</title><link>{srv.url(f'/{name}/{t}.html')}</link><guid>{name}-{t}</guid>"
        f"<pubDate>{email.utils.format_datetime(d)}</pubDate></item>"
        for t, d in items
    )
    feed = f"<rss version='2.0'><channel><title>{name}</title>{entries}</channel></rss>"
    srv.static(f"/{name}.xml", feed.encode(), "application/rss+xml")
    for t, _ in items:
        srv.static(f"/{name}/{t}.html", _page(t))


def build_home(root: Path) -> Path:
    """A data directory with a warehouse, its published snapshot and GX results, made by the pipeline."""
    from newsflow import run as stages
    from newsflow.config import load_feeds_file
    from newsflow.quality.gate import ensure_project
    from newsflow.run import run_cycle
    from newsflow.sample import StaticSite
    from newsflow.topics import make_classifier

    home = root / "home"
    home.mkdir(parents=True)
    warehouse = home / "warehouse.duckdb"
    ensure_project(home)
    now = datetime.now(UTC)

    # 1. The Airflow path (stage functions) on the bundled sample site, with one feed that answers 404.
    with StaticSite(port=0) as site:
        base = site.base_url
        cfg = root / "sample.yaml"
        cfg.write_text(
            f"allow_hosts: ['{urlsplit(base).netloc}']\nfeeds:\n"
            f"  - {{name: meridian-world, url: '{base}/feeds/world.xml'}}\n"
            f"  - {{name: meridian-americas, url: '{base}/feeds/americas.atom'}}\n"
            f"  - {{name: meridian-briefs, url: '{base}/feeds/briefs.rdf'}}\n"
            f"  - {{name: gone-gazette, url: '{base}/feeds/gone.xml'}}\n"
            "settings: {per_host_min_delay_s: 0, max_quarantine_share: 0.4}\n"
        )
        config = load_feeds_file(cfg)
        for spec in stages.plan_polls(config, warehouse, force=True):
            stages.poll_stage(config, spec, run_id=INGEST_RUN_ID, home=home)
        for batch in stages.plan_stage(config, run_id=INGEST_RUN_ID, home=home, warehouse=warehouse):
            stages.fetch_stage(config, batch, home=home)
        stages.finish_ingest(run_id=INGEST_RUN_ID, home=home)
        classified = stages.classify_pending(config, home=home)
        topics = make_classifier(config.taxonomy).topics
        validated = stages.validate_runs(classified["runs"], home=home, topic_names=topics)
        stages.load_runs(validated["runs"], warehouse=warehouse)

    # 2. and 3. One-process cycles on wire feeds: 2 of 6 rows fail (a future date, a title too long),
    # then 3 of 5 (over the gate's threshold).
    with TestServer() as srv:
        future = now + timedelta(days=400)
        wire = [(f"story{n}", now - timedelta(days=n, hours=2)) for n in range(4)]
        _wire(srv, "wire", [*wire, ("longtitle", now - timedelta(hours=3)), ("late", future)])
        _wire(
            srv, "flood", [("a", now - timedelta(days=1)), ("b", now), *[(f"z{n}", future) for n in range(3)]]
        )
        for name in ("wire", "flood"):
            cfg = root / f"{name}.yaml"
            url = srv.url(f"/{name}.xml")
            cfg.write_text(
                f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: {name}, url: '{url}'}}\n"
                "settings: {per_host_min_delay_s: 0, max_quarantine_share: 0.4}\n"
            )
            run_cycle(load_feeds_file(cfg), warehouse, home=home, force=True)

    stages.record_feed_health(warehouse, now.date())
    stages.checkpoint(warehouse)  # republishes the snapshot the pages read
    return home


_SHARED: dict[str, Path] = {}


def shared_home() -> Path:
    """:func:`build_home` once per test session; both UI test modules only read it."""
    if "home" not in _SHARED:
        root = Path(tempfile.mkdtemp(prefix="newsflow-reports-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _SHARED["home"] = build_home(root)
    return _SHARED["home"]


@pytest.fixture(scope="module")
def home_dir() -> Path:
    return shared_home()


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("newsflow_plugin_under_test", PLUGIN_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def client(plugin: ModuleType, home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The plugin app mounted as the api-server mounts it, with a logged-in user (auth: the browser test)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    monkeypatch.setenv("NEWSFLOW_HOME", str(home_dir))
    monkeypatch.setattr(plugin, "_require_dag_read", lambda user, dag_id: None)
    monkeypatch.setattr(
        plugin,
        "_recent_runs",
        lambda dag_id: [(INGEST_RUN_ID, "success", None)] if dag_id == "news_ingest" else [],
    )
    plugin.app.dependency_overrides[plugin.current_user] = lambda: SimpleNamespace(name="admin")
    root = FastAPI()
    root.mount(plugin.URL_PREFIX, plugin.app)
    try:
        with TestClient(root) as c:
            yield c
    finally:
        plugin.app.dependency_overrides.clear()


# -- what the reports read --------------------------------------------------------------------------------


def test_quality_report_shows_the_pipelines_runs(home_dir: Path) -> None:
    from newsflow.ui import quality_report

    report = quality_report(home_dir / "warehouse.duckdb", home_dir)
    assert report is not None
    assert report.runs_total == 6 and report.runs_failed == 2 and report.quarantined_total == 5
    assert [(r.suite, r.rows_evaluated, r.rows_failed) for r in report.runs if r.run_id == STAGED] == [
        ("article_topics", 36, 0),
        ("articles", 12, 0),
    ]
    failing = [r for r in report.runs if not r.success]
    assert [(r.rows_evaluated, r.rows_failed, dict(r.failing)) for r in failing] == [
        (5, 3, {"published_at_not_future": 3}),
        (6, 2, {"published_at_not_future": 1, "title_length": 1}),
    ]
    pages = [report.docs.of(r) for r in report.runs]
    assert all(p and (home_dir / "quality").rglob(Path(p).name) for p in pages)
    assert [r.run_id for r in report.trend][:2] == [STAGED, STAGED]  # oldest first for the chart
    reasons = {r.expectation: r for r in report.reasons}
    assert list(reasons) == ["published_at_not_future", "title_length"]
    future = reasons["published_at_not_future"]
    assert future.count == 4 and len(future.examples) == 3 and "clock skew" in future.explanation
    for example in future.examples:
        assert example.value and datetime.fromisoformat(example.value) > datetime.now(UTC)
        assert example.feed == "flood" and example.url and example.url.startswith("http://127.0.0.1:")
    assert reasons["title_length"].examples[0].value == f"{len(LONG_TITLE.strip()):,} characters"


def test_warehouse_report_shows_articles_feeds_and_health(home_dir: Path) -> None:
    from newsflow.ui import NO_TOPIC, warehouse_report

    report = warehouse_report(home_dir / "warehouse.duckdb")
    assert report is not None
    assert report.articles == 18 and report.ledger_violations == 0
    # The wire and flood feeds' pages share one text (with their slug in each paragraph): copies of one story
    # (whether a borderline copy joins it depends on the order the load meets them: 4 or 5 of the 6).
    with Warehouse(home_dir / "warehouse.published.duckdb", read_only=True) as wh:
        stories = wh.query("SELECT story_id, count(*) FROM articles GROUP BY 1 HAVING count(*) > 1")[1]
        assert report.stories == wh.query("SELECT count(DISTINCT story_id) FROM articles")[1][0][0]
    assert len(stories) == 1 and stories[0][1] >= 4 and report.stories == 19 - stories[0][1]
    assert [(s.story_id, s.articles, s.outlets) for s in report.republished] == [(*stories[0], 1)]
    assert report.items_by_status == {"loaded": 18, "duplicate": 1, "quarantined": 5}
    assert set(report.topics) == {"aid", "border", "diplomacy", NO_TOPIC} and report.topics[-1] == NO_TOPIC
    assert sum(n for (_, t), n in report.per_day_topic.items() if t == "border") >= 6
    assert report.days == sorted(report.days) and len(report.days) >= 5
    assert [(f.name, f.count) for f in report.top_feeds][0] == ("meridian-americas", 5)
    assert [(d.name, d.count) for d in report.top_domains] == [("127.0.0.1", 18)]
    first = report.feeds[0]
    assert (first.name, first.failing, first.last_http_status, first.articles) == (
        "gone-gazette",
        True,
        404,
        0,
    )
    assert first.polls_7d == 1 and first.failures_7d == 1
    assert not any(f.failing for f in report.feeds[1:]) and len(report.feeds) == 6


def test_dag_runs_map_to_their_staging_runs(home_dir: Path) -> None:
    from newsflow.run import run_dir, staging_names
    from newsflow.ui import run_report

    assert staging_names("news_ingest", INGEST_RUN_ID, home_dir) == [run_dir(home_dir, INGEST_RUN_ID).name]
    assert run_dir(home_dir, INGEST_RUN_ID).name == STAGED
    xcom = {"runs": [str(home_dir / "staging" / STAGED), str(home_dir / "staging" / "other")], "verdicts": []}
    assert staging_names("news_curate", "asset_triggered__x", home_dir, xcom) == [STAGED, "other"]
    assert staging_names("news_curate", "asset_triggered__x", home_dir, None) == []
    assert staging_names("news_maintenance", "scheduled__x", home_dir, xcom) == []

    report = run_report(home_dir / "warehouse.duckdb", home_dir, "news_ingest", INGEST_RUN_ID, [STAGED])
    assert sorted((r.suite, r.success) for r in report.runs) == [("article_topics", True), ("articles", True)]
    assert report.quarantined == [] and report.staging_names == [STAGED]
    assert run_report(home_dir / "warehouse.duckdb", home_dir, "news_curate", "x", []).runs == []


def test_run_report_lists_quarantined_rows(home_dir: Path) -> None:
    from markupsafe import escape

    from newsflow.ui import quality_report, render_run, run_report

    quality = quality_report(home_dir / "warehouse.duckdb", home_dir)
    assert quality is not None
    worst = next(r.run_id for r in quality.runs if r.rows_failed == 3)
    report = run_report(home_dir / "warehouse.duckdb", home_dir, "news_curate", "asset_triggered__y", [worst])
    assert len(report.quarantined) == 3
    assert all(any("published_at_not_future" in r for r in reasons) for _, reasons in report.quarantined)
    page = render_run(report, base="/newsflow")
    assert worst in page and page.count('class="example"') == 3

    wire = next(r.run_id for r in quality.runs if r.rows_failed == 2)
    report = run_report(home_dir / "warehouse.duckdb", home_dir, "news_curate", "asset_triggered__z", [wire])
    assert sorted(ex.title or "" for ex, _ in report.quarantined) == sorted(
        [HOSTILE_TITLE, LONG_TITLE.strip()]
    )
    page = render_run(report, base="/newsflow")
    assert "<script" not in page and str(escape(HOSTILE_TITLE)) in page  # escaped, never markup


# -- rendered pages ---------------------------------------------------------------------------------------


def test_pages_render_real_rows_and_charts(home_dir: Path) -> None:
    from newsflow.ui import quality_report, render_quality, render_warehouse, warehouse_report

    page = render_quality(quality_report(home_dir / "warehouse.duckdb", home_dir), base="/newsflow")
    assert page.count('<tr class="run') == 6 and f'data-run-id="{STAGED}"' in page
    assert "window.__nf_probe" in page and "<script" not in page  # the hostile title, escaped
    assert page.count('class="point"') == 6 and 'data-chart="pass-rate"' in page
    assert 'data-expectation="published_at_not_future"' in page and 'data-expectation="title_length"' in page
    assert page.count('<a class="docs" href="/newsflow/docs/validations/') == 6

    page = render_warehouse(warehouse_report(home_dir / "warehouse.duckdb"), base="/newsflow")
    assert 'data-chart="articles-per-day"' in page and page.count('class="seg"') >= 5
    assert page.index('data-feed="gone-gazette"') < page.index('data-feed="meridian-world"')
    assert "HTTP 404" in page


def test_pages_without_a_warehouse(tmp_path: Path) -> None:
    from newsflow.ui import quality_report, render_quality, render_warehouse, warehouse_report

    assert quality_report(tmp_path / "none.duckdb", tmp_path) is None
    assert "No warehouse yet" in render_quality(None, base="/newsflow")
    assert warehouse_report(tmp_path / "none.duckdb") is None
    assert "No warehouse yet" in render_warehouse(None, base="/newsflow")


# -- served by the plugin app: no external host, traversal refused ------------------------------------------

_REF_RE = re.compile(r"""(?:\s(?:src|href)\s*=\s*["']([^"']*)["'])|url\(\s*["']?([^"')]*)["']?\s*\)""")
_JS_LOAD_RE = re.compile(
    r"""sourceMappingURL=https?://|(?:src|href)\s*=\s*["']https?://|url\(["']?https?://"""
    r"""|(?:fetch|import|importScripts)\(\s*["']https?://"""
)


def _external(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname not in ("127.0.0.1", "localhost")


def _refs(text: str) -> list[str]:
    return [a or b for a, b in _REF_RE.findall(text) if (a or b)]


def test_served_pages_reference_no_external_host(client: Any, home_dir: Path) -> None:
    from newsflow.quality.datadocs import docs_dir

    site = docs_dir(home_dir)
    pages = [
        "/newsflow/quality",
        "/newsflow/warehouse",
        f"/newsflow/runs/news_ingest/{quote(INGEST_RUN_ID, safe='')}",
        "/newsflow/dags/news_ingest",
        "/newsflow/dags/news_curate",
        *(f"/newsflow/docs/{p.relative_to(site).as_posix()}" for p in sorted(site.rglob("*.html"))),
        *(f"/newsflow/docs/{p.relative_to(site).as_posix()}" for p in sorted(site.rglob("*.css"))),
    ]
    assert len(pages) > 10
    seen: set[str] = set()
    queue = list(pages)
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        kind = response.headers["content-type"]
        if url in pages and "html" in kind:
            assert "default-src" in response.headers["content-security-policy"], url
            assert "http:" not in response.headers["content-security-policy"]
        if not any(t in kind for t in ("html", "css", "javascript")):
            continue
        text = response.text
        if "javascript" in kind:
            assert not _JS_LOAD_RE.search(text), url
            continue
        refs = [r for r in _refs(text) if not r.startswith(("data:", "#", "javascript:", "mailto:"))]
        assert [r for r in refs if _external(r)] == [], url
        assert "great-expectations-web-assets" not in text and "cdn.jsdelivr.net" not in text, url
        for ref in refs:  # every local asset a page or stylesheet names is served
            target = urlsplit(urljoin(f"http://127.0.0.1{url}", ref)).path
            if target.startswith("/newsflow/static/") or (
                target.startswith("/newsflow/docs/") and not target.endswith(".html")
            ):
                queue.append(target)
    assert any(u.startswith("/newsflow/static/vendor/vega@") for u in seen)
    assert any(u.endswith(".woff2") for u in seen)  # Font Awesome's fonts, via its stylesheet


def test_vendored_assets_are_complete_and_keep_sri(home_dir: Path) -> None:
    from newsflow.quality.datadocs import CDN_ASSETS, VENDOR_DIR, docs_dir, rewrite

    for url, local in CDN_ASSETS.items():
        assert (VENDOR_DIR / local).is_file(), url
        package = VENDOR_DIR / local.split("/")[0]
        if local.startswith("@"):
            package = VENDOR_DIR.joinpath(*local.split("/")[:2])
        assert list(package.glob("LICENSE*")), f"no licence for {package}"
    index = (docs_dir(home_dir) / "index.html").read_text()
    assert sum(url in index for url in CDN_ASSETS) >= 14  # the map covers what GX 1.24 writes
    page = rewrite(index, vendor_base="/v", site_base="/d")
    for src, integrity in re.findall(r'src="/v/([^"]+)" integrity="(sha384-[^"]+)"', page):
        digest = base64.b64encode(hashlib.sha384((VENDOR_DIR / src).read_bytes()).digest()).decode()
        assert integrity == f"sha384-{digest}", src  # the browser's SRI check still passes
    assert 'src="/d/static/images/logo-long.png"' in page and "dataContextId" not in page
    assert 'href="https://greatexpectations.io' not in page


def test_traversal_is_refused(client: Any, home_dir: Path, tmp_path: Path) -> None:
    from newsflow.quality.datadocs import docs_dir, is_public_asset, resolve_under

    site = docs_dir(home_dir)
    assert (site / "../../../../../warehouse.duckdb").resolve().is_file()
    for bad in (
        "../../../../../warehouse.duckdb",
        str(home_dir / "warehouse.duckdb"),
        "validations/../../../../../../warehouse.duckdb",
        "index.html\x00.png",
        "",
        "static",  # a folder, not a file
    ):
        assert resolve_under(site, bad) is None, bad
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    inside = tmp_path / "site"
    inside.mkdir()
    (inside / "link.html").symlink_to(outside)
    assert resolve_under(inside, "link.html") is None  # a symlink pointing out
    assert resolve_under(site, "index.html") == (site / "index.html").resolve()
    assert is_public_asset("static/styles/data_docs_default_styles.css")
    for private in ("index.html", "static/../index.html", "static/x/../../a.css", "validations/a.png"):
        assert not is_public_asset(private), private

    for url in (
        "/newsflow/docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/warehouse.duckdb",
        "/newsflow/docs/..%2f..%2f..%2f..%2f..%2fwarehouse.duckdb",
        f"/newsflow/docs/{quote(str(home_dir / 'warehouse.duckdb'), safe='')}",
        "/newsflow/static/vendor/%2e%2e/%2e%2e/pages.py",
        "/newsflow/static/vendor/..%2f..%2fpages.py",
        "/newsflow/docs/static/..%2f..%2f..%2f..%2f..%2f..%2fwarehouse.duckdb",
        "/newsflow/docs/static/%2e%2e/index.html",  # public route: static assets only
        "/newsflow/docs/static/..%2fvalidations%2fx.png",
    ):
        response = client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == 404, url
        assert "Not found." in response.text, url  # refused by the app's check, not by routing


def test_login_is_required_without_credentials(plugin: ModuleType, home_dir: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    root = FastAPI()
    root.mount(plugin.URL_PREFIX, plugin.app)
    with TestClient(root) as c:
        for url in (
            "/newsflow/quality",
            "/newsflow/warehouse",
            "/newsflow/docs/index.html",
            "/newsflow/dags/x",
        ):
            response = c.get(url)
            assert response.status_code == 401, url
            assert response.json() == {"detail": "Not authenticated"}


def test_plugin_wiring(plugin: ModuleType) -> None:
    views = {v["url_route"]: v for v in plugin.NewsflowPlugin.external_views}
    assert (
        views["newsflow-quality"]["destination"] == "nav"
        and views["newsflow-quality"]["name"] == "Data Quality"
    )
    assert views["newsflow-warehouse"]["destination"] == "nav"
    assert views["newsflow-dag-quality"]["destination"] == "dag"
    assert views["newsflow-dag-quality"]["href"] == "/newsflow/dags/{DAG_ID}"
    assert plugin.NewsflowPlugin.fastapi_apps[0]["url_prefix"] == "/newsflow"
    link = plugin.NewsflowPlugin.global_operator_extra_links[0]
    key = SimpleNamespace(
        dag_id="news_curate", task_id="validate", run_id="manual__2026-01-01T00:00:00+00:00"
    )
    assert (
        link.get_link(None, ti_key=key)
        == "/newsflow/runs/news_curate/manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    )
    assert link.get_link(None, ti_key=SimpleNamespace(dag_id="news_curate", task_id="load", run_id="r")) == ""


def test_prune_data_docs_bounds_retention(home_dir: Path, tmp_path: Path) -> None:
    from newsflow.quality.datadocs import docs_dir, prune_data_docs
    from newsflow.ui import quality_report

    copy = tmp_path / "home"
    shutil.copytree(home_dir, copy)
    before = sorted(p.name for p in (docs_dir(copy) / "validations").rglob("*.html"))
    assert len(before) == 6
    assert prune_data_docs(copy, keep=1) == 4  # three runs per suite, the newest kept
    after = list((docs_dir(copy) / "validations").rglob("*.html"))
    assert len(after) == 2
    report = quality_report(copy / "warehouse.duckdb", copy)
    assert report is not None
    assert sum(report.docs.of(r) is not None for r in report.runs) == 2  # the others show "pruned"
    assert prune_data_docs(tmp_path / "nothing-here", keep=1) == 0
