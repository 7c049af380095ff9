"""Integration tests of the fetcher, the poller and robots.txt against a real HTTP server on loopback."""

from __future__ import annotations

import gzip
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from factories import ARTICLE_PAGE, rss_of
from httpserver import Request, TestServer
from newsflow.articles import RawStore, fetch_articles
from newsflow.config import FeedConfig, FeedsFile, Settings, default_settings_dict, load_feeds_file
from newsflow.feeds import poll_feed
from newsflow.models import FeedItem, FeedState
from newsflow.net import Fetcher, FetchError, NetGuard, parse_retry_after
from newsflow.run import run_cycle
from newsflow.urls import canonical_url
from newsflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>http://x/</link>
<item><title>One</title><link>/a/1.html</link><guid>g1</guid><pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate>
<description>First story summary.</description></item>
<item><title>Two</title><link>/a/2.html</link><guid>g2</guid><pubDate>Wed, 25 Nov 2026 09:00:00 GMT</pubDate>
</item></channel></rss>"""


def settings(**overrides: Any) -> Settings:
    base = {
        **default_settings_dict(),
        "per_host_min_delay_s": 0.0,
        "total_timeout_s": 5.0,
        "read_timeout_s": 2.0,
        "connect_timeout_s": 2.0,
    }
    return Settings.model_validate({**base, **overrides})


def ledger_by_page(wh: Path, columns: str) -> dict[str, tuple[Any, ...]]:
    """The ledger's ``columns`` per item, keyed by the last part of the item's link (``3.html``)."""
    with Warehouse(wh, read_only=True) as w:
        rows = w.query(f"SELECT link, {columns} FROM items")[1]
    return {link.rsplit("/", 1)[1]: tuple(rest) for link, *rest in rows}


def one_feed(tmp_path: Path, srv: TestServer, settings: str) -> FeedsFile:
    """A feeds file with the feed ``test`` at ``/feed.xml`` on ``srv`` (allow-listed) and ``settings``."""
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: test, url: '{srv.url('/feed.xml')}'}}\n"
        f"settings: {{{settings}}}\n"
    )
    return load_feeds_file(path)


def fetcher_for(srv: TestServer, **overrides: Any) -> Fetcher:
    return Fetcher(settings(**overrides), NetGuard([srv.host]), max_wait_s=1.0)


def feed(srv: TestServer, path: str = "/feed.xml") -> FeedConfig:
    return FeedConfig(name="test", url=srv.url(path))


def item(url: str) -> FeedItem:
    return FeedItem(
        item_id="i1",
        feed="test",
        guid="g",
        link=url,
        canonical_url=canonical_url(url),
        title="T",
        summary=None,
        content=None,
        author=None,
        published_at=None,
        entry_hash="h",
    )


def test_conditional_get_and_304() -> None:
    with TestServer() as srv:

        def handler(r: Request) -> None:
            if r.headers.get("If-None-Match") == '"v1"':
                r.reply(304, ctype=None)
            else:
                r.reply(
                    200,
                    RSS,
                    "application/rss+xml",
                    ETag='"v1"',
                    Last_Modified="Wed, 25 Nov 2026 10:00:00 GMT",
                )

        srv.route("/feed.xml", handler)
        with fetcher_for(srv) as f:
            first = poll_feed(feed(srv), FeedState("test"), f, f.settings)
            assert first.status == "ok" and len(first.items) == 2 and first.etag == '"v1"'
            assert first.items[0].link == srv.url("/a/1.html")  # relative links resolved against the feed
            state = FeedState(
                "test", etag=first.etag, last_modified=first.last_modified, body_hash=first.body_hash
            )
            second = poll_feed(feed(srv), state, f, f.settings)
        assert second.status == "not_modified" and second.items == () and second.http_status == 304
        sent = srv.requests("/feed.xml")[1][1]
        assert sent["If-None-Match"] == '"v1"'
        assert sent["If-Modified-Since"] == "Wed, 25 Nov 2026 10:00:00 GMT"
        assert "newsflow" in sent["User-Agent"] and "http" in sent["User-Agent"]


def test_same_body_is_not_parsed_again() -> None:
    with TestServer() as srv:
        srv.static("/feed.xml", RSS, "application/rss+xml")  # a server with no validators
        with fetcher_for(srv) as f:
            first = poll_feed(feed(srv), FeedState("test"), f, f.settings)
            again = poll_feed(feed(srv), FeedState("test", body_hash=first.body_hash), f, f.settings)
        assert again.status == "unchanged" and again.items == ()


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_retry_after_defers_the_host(form: str) -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    value = "120" if form == "seconds" else format_datetime(later, usegmt=True)
    with TestServer() as srv:
        srv.route("/feed.xml", lambda r: r.reply(429, b"slow down", "text/plain", Retry_After=value))
        srv.static("/other.xml", RSS, "application/rss+xml")
        with fetcher_for(srv) as f:
            result = poll_feed(feed(srv), FeedState("test"), f, f.settings)
            assert result.status == "deferred" and result.http_status == 429
            assert result.poll_interval_min is not None and result.poll_interval_min >= 1.9  # >= 120 s
            assert 100 < f.gate.blocked_for(srv.host) <= 120
            with pytest.raises(FetchError) as err:  # the whole host waits, not only that feed
                f.get(srv.url("/other.xml"))
            assert err.value.kind == "deferred"
        assert srv.requests("/other.xml") == []


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after("Fri, 27 Nov 2026 12:01:00 GMT", now) == 60
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_5xx_backs_off_exponentially_and_keeps_the_feed(tmp_path: Path) -> None:
    with TestServer() as srv:
        srv.route("/feed.xml", lambda r: r.reply(500, b"oops", "text/plain"))
        cfg_file = tmp_path / "feeds.yaml"
        cfg_file.write_text(
            f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: broken, url: '{srv.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0}\n"
        )
        cfg = load_feeds_file(cfg_file)
        wh = tmp_path / "w.duckdb"
        intervals = []
        for _ in range(4):
            summary = run_cycle(cfg, wh, home=tmp_path, force=True)
            assert summary.feeds_failed == 1
            with Warehouse(wh, read_only=True) as w:
                row = w.query(
                    "SELECT consecutive_failures, poll_interval_min, last_error, last_success_at "
                    "FROM feeds WHERE name = 'broken'"
                )[1][0]
            intervals.append(row[1])
        assert row[0] == 4 and "HTTP 500" in row[2] and row[3] is None
        assert intervals == [5, 10, 20, 40]
        with Warehouse(wh, read_only=True) as w:
            assert w.query("SELECT count(*) FROM feed_polls WHERE status = 'error'")[1][0][0] == 4


def test_transient_article_failures_are_retried_while_the_feed_is_unchanged(tmp_path: Path) -> None:
    """A feed that answers 304 lists no items, yet its retryable failures are fetched again on its later
    polls (up to max_item_attempts in all); while the feed itself fails, none is tried."""
    page = ARTICLE_PAGE
    feed_down = {"now": False}
    with TestServer() as srv:

        def feed_handler(r: Request) -> None:
            if feed_down["now"]:
                r.reply(500, b"down", "text/plain")
            elif r.headers.get("If-None-Match") == '"v1"':
                r.reply(304, ctype=None)
            else:
                r.reply(200, RSS, "application/rss+xml", ETag='"v1"')

        def flaky(r: Request) -> None:  # fails on its first request only
            first = len(srv.requests("/a/1.html")) == 1
            r.reply(500, b"busy", "text/plain") if first else r.reply(200, page)

        srv.route("/feed.xml", feed_handler)
        srv.route("/a/1.html", flaky)
        srv.route("/a/2.html", lambda r: r.reply(502, b"bad gateway", "text/plain"))  # always fails
        cfg_file = tmp_path / "feeds.yaml"
        cfg_file.write_text(
            f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: test, url: '{srv.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0, max_item_attempts: 3, respect_robots: false}\n"
        )
        cfg = load_feeds_file(cfg_file)
        wh = tmp_path / "w.duckdb"

        def ledger() -> dict[str, tuple[str, int, bool]]:
            with Warehouse(wh, read_only=True) as w:
                rows = w.query("SELECT link, status, attempts, retryable FROM items")[1]
            return {
                link.rsplit("/", 1)[1]: (status, attempts, retryable)
                for link, status, attempts, retryable in rows
            }

        first = run_cycle(cfg, wh, home=tmp_path, force=True)
        assert first.load.failed == 2 and ledger() == {
            "1.html": ("failed", 1, True),
            "2.html": ("failed", 1, True),
        }
        feed_down["now"] = True  # a failing feed retries nothing: its host may well be down
        assert run_cycle(cfg, wh, home=tmp_path, force=True).fetched == 0
        feed_down["now"] = False
        second = run_cycle(cfg, wh, home=tmp_path, force=True)
        assert second.feeds_not_modified == 1 and second.fetched == 2
        assert ledger() == {"1.html": ("loaded", 2, False), "2.html": ("failed", 2, True)}
        run_cycle(cfg, wh, home=tmp_path, force=True)
        assert ledger()["2.html"] == ("failed", 3, True)
        assert run_cycle(cfg, wh, home=tmp_path, force=True).fetched == 0  # max_item_attempts reached
        with Warehouse(wh, read_only=True) as w:
            assert w.query("SELECT count(*) FROM articles")[1] == [(1,)]
            assert w.ledger_violations() == []
    assert len(srv.requests("/a/1.html")) == 2 and len(srv.requests("/a/2.html")) == 3


def test_a_retry_falls_back_to_the_entrys_own_text(tmp_path: Path) -> None:
    """The retry of an entry the feed no longer lists (it answers 304) still has the entry's text: a page that
    then gives too little text loads with the feed's summary, as the first attempt would have."""
    summary = "Ministers met at the border crossing to discuss aid for the towns on both sides. " * 6
    rss = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title><item><title>One</title>"
        f"<link>/a/1.html</link><guid>g1</guid><description>{summary}</description></item></channel></rss>"
    ).encode()
    with TestServer() as srv:

        def feed_handler(r: Request) -> None:
            if r.headers.get("If-None-Match") == '"v1"':
                r.reply(304, ctype=None)
            else:
                r.reply(200, rss, "application/rss+xml", ETag='"v1"')

        def short_page(r: Request) -> None:  # fails first, then answers with almost no text
            first = len(srv.requests("/a/1.html")) == 1
            r.reply(500, b"busy", "text/plain") if first else r.reply(200, b"<html><p>Short.</p></html>")

        srv.route("/feed.xml", feed_handler)
        srv.route("/a/1.html", short_page)
        cfg_file = tmp_path / "feeds.yaml"
        cfg_file.write_text(
            f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: test, url: '{srv.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0, respect_robots: false}\n"
        )
        cfg = load_feeds_file(cfg_file)
        wh = tmp_path / "w.duckdb"
        assert run_cycle(cfg, wh, home=tmp_path, force=True).load.failed == 1
        with Warehouse(wh, read_only=True) as w:
            assert w.query("SELECT count(*) FROM retry_entries")[1] == [(1,)]
        second = run_cycle(cfg, wh, home=tmp_path, force=True)
        assert second.feeds_not_modified == 1 and second.load.articles_inserted == 1
        with Warehouse(wh, read_only=True) as w:
            (row,) = w.query("SELECT body_source, body FROM articles")[1]
            assert row[0] == "feed_summary" and row[1].startswith("Ministers met at the border")
            assert w.query("SELECT count(*) FROM retry_entries")[1] == [(0,)]  # settled: its text dropped
            assert w.ledger_violations() == []


def test_trickling_server_hits_the_total_deadline() -> None:
    with TestServer() as srv:

        def trickle(r: Request) -> None:
            r.send_response(200)
            r.send_header("Content-Type", "text/html")
            r.send_header("Content-Length", "100000")
            r.end_headers()
            try:
                for _ in range(200):
                    r.wfile.write(b"x")
                    r.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        srv.route("/slow", trickle)
        with fetcher_for(srv, total_timeout_s=1.0) as f:
            t0 = time.monotonic()
            with pytest.raises(FetchError) as err:
                f.get(srv.url("/slow"))
            elapsed = time.monotonic() - t0
        assert err.value.kind == "timeout" and err.value.retryable
        assert elapsed < 3.0


def test_the_total_deadline_starts_when_the_request_starts_not_while_it_waits_for_its_turn() -> None:
    with TestServer() as srv:
        srv.route("/slow", lambda r: (time.sleep(0.6), r.reply(200, b"<html>done</html>")))
        fetcher = fetcher_for(srv, total_timeout_s=1.0, per_host_concurrency=1)
        with fetcher as f, ThreadPoolExecutor(3) as pool:
            t0 = time.monotonic()
            responses = list(pool.map(lambda _: f.get(srv.url("/slow")), range(3)))
            waited = time.monotonic() - t0
        # the third waited about 1.2 s for its turn, longer than total_timeout_s, and was still served
        assert waited > 1.6
        assert [r.status for r in responses] == [200, 200, 200]
        assert all(r.elapsed_s < 1.0 for r in responses)


def test_silent_server_hits_the_read_timeout() -> None:
    with TestServer() as srv:
        srv.route("/silent", lambda r: time.sleep(3))
        with fetcher_for(srv, read_timeout_s=0.5) as f, pytest.raises(FetchError) as err:
            f.get(srv.url("/silent"))
        assert err.value.kind == "timeout"


def test_oversized_bodies_are_capped() -> None:
    big = b"a" * 300_000
    bomb = gzip.compress(b"\0" * 20_000_000)
    with TestServer() as srv:
        srv.static("/declared", big)

        def chunked(r: Request) -> None:
            r.send_response(200)
            r.send_header("Content-Type", "text/html")
            r.send_header("Connection", "close")
            r.end_headers()
            for _ in range(30):
                r.wfile.write(b"b" * 10_000)

        srv.route("/undeclared", chunked)
        srv.static("/bomb", bomb, Content_Encoding="gzip")
        with fetcher_for(srv, max_response_bytes=100_000) as f:
            for path in ("/declared", "/undeclared", "/bomb"):
                with pytest.raises(FetchError) as err:
                    f.get(srv.url(path))
                assert err.value.kind == "too_large", path
        assert len(bomb) < 100_000  # the bomb is small on the wire: the cap works on decompressed bytes


def test_redirects_loop_and_limit() -> None:
    with TestServer() as srv:
        srv.route("/a", lambda r: r.reply(302, ctype=None, Location="/b"))
        srv.route("/b", lambda r: r.reply(301, ctype=None, Location=srv.url("/a")))
        for n in range(10):
            srv.route(f"/chain{n}", lambda r, n=n: r.reply(302, ctype=None, Location=f"/chain{n + 1}"))
        srv.static("/chain10", b"<html>end</html>")
        with fetcher_for(srv, max_redirects=3) as f:
            with pytest.raises(FetchError, match="redirect loop"):
                f.get(srv.url("/a"))
            with pytest.raises(FetchError, match="more than 3 redirects"):
                f.get(srv.url("/chain0"))
            with pytest.raises(FetchError, match="more than 3 redirects"):
                f.get(srv.url("/chain6"))  # 4 redirects
            assert len(f.get(srv.url("/chain7")).redirects) == 3  # exactly the limit: followed
        with fetcher_for(srv, max_redirects=10) as f:
            resp = f.get(srv.url("/chain0"))
        assert resp.status == 200 and resp.url == srv.url("/chain10") and len(resp.redirects) == 10


def test_ssrf_guard_refuses_before_connecting() -> None:
    with TestServer() as srv:
        srv.static("/feed.xml", RSS, "application/rss+xml")
        srv.route("/jump", lambda r: r.reply(302, ctype=None, Location="http://127.0.0.2:9/admin"))
        with Fetcher(settings(), NetGuard([])) as f:  # nothing allow-listed
            with pytest.raises(FetchError) as err:
                f.get(srv.url("/feed.xml"))
            assert err.value.kind == "blocked" and "127.0.0.1" in err.value.reason
            result = poll_feed(feed(srv), FeedState("test"), f, f.settings)
            assert result.status == "error" and "SSRF" in (result.error or "")
        assert srv.requests() == []
        with fetcher_for(srv) as f, pytest.raises(FetchError) as err:  # a redirect hop is checked too
            f.get(srv.url("/jump"))
        assert err.value.kind == "blocked" and "127.0.0.2" in err.value.reason


def arrivals(srv: TestServer, path: str, body: bytes) -> list[float]:
    """Serve ``body`` at ``path`` and return the list the arrival times of its requests are appended to."""
    times: list[float] = []

    def handler(r: Request) -> None:
        times.append(time.monotonic())
        r.reply(200, body)

    srv.route(path, handler)
    return times


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False)]


def test_robots_txt_disallow_and_crawl_delay(tmp_path: Path) -> None:
    page = ARTICLE_PAGE
    with TestServer() as srv:
        srv.static("/robots.txt", b"User-agent: *\nDisallow: /private/\nCrawl-delay: 0.3\n", "text/plain")
        srv.static("/private/a.html", page)
        times = arrivals(srv, "/public/a.html", page)
        st = settings()  # per_host_min_delay_s 0: only the Crawl-delay spaces requests
        with fetcher_for(srv) as f:
            out = fetch_articles([item(srv.url("/private/a.html"))], f, st, RawStore(tmp_path))
            assert out[0].status == "failed" and out[0].reason == "disallowed by robots.txt"
            assert not out[0].retryable
            ok = fetch_articles([item(srv.url("/public/a.html"))] * 3, f, st, RawStore(tmp_path))
            assert [o.status for o in ok] == ["loaded"] * 3
        assert len(times) == 3 and min(gaps(times)) >= 0.2, gaps(times)  # fetched in parallel, yet spaced
        assert srv.requests("/private/a.html") == []
        assert len(srv.requests("/robots.txt")) == 1  # cached per host


def test_robots_unreachable_means_wait(tmp_path: Path) -> None:
    """robots.txt that never answers (a timeout): no page of the host is fetched; the item is retried."""
    with TestServer() as srv:
        srv.route("/robots.txt", lambda r: time.sleep(1.5))  # says nothing until the client gave up
        srv.static("/a.html", b"<html></html>")
        with fetcher_for(srv, read_timeout_s=0.3, total_timeout_s=0.5) as f:
            out = fetch_articles([item(srv.url("/a.html"))], f, settings(), RawStore(tmp_path))
        assert out[0].status == "failed" and out[0].retryable and "robots.txt" in (out[0].reason or "")
        assert srv.requests("/a.html") == []


def test_per_host_minimum_delay_spaces_parallel_requests() -> None:
    with TestServer() as srv:
        times = arrivals(srv, "/a.html", b"<html>a</html>")
        other = arrivals(srv, "/b.html", b"<html>b</html>")
        with fetcher_for(srv, per_host_min_delay_s=0.3, per_host_concurrency=4) as f:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda _: f.get(srv.url("/a.html")), range(3)))
        assert len(times) == 3 and min(gaps(times)) >= 0.2, gaps(times)
        assert other == []


def test_robots_5xx_means_wait(tmp_path: Path) -> None:
    with TestServer() as srv:
        srv.route("/robots.txt", lambda r: r.reply(503, b"", "text/plain"))
        srv.static("/a.html", b"<html></html>")
        with fetcher_for(srv) as f:
            out = fetch_articles([item(srv.url("/a.html"))], f, settings(), RawStore(tmp_path))
        assert out[0].status == "failed" and out[0].retryable and "robots.txt" in (out[0].reason or "")
        assert srv.requests("/a.html") == []


def test_per_host_concurrency_limit() -> None:
    active = {"now": 0, "max": 0}
    import threading

    lock = threading.Lock()
    with TestServer() as srv:

        def slow(r: Request) -> None:
            with lock:
                active["now"] += 1
                active["max"] = max(active["max"], active["now"])
            time.sleep(0.2)
            with lock:
                active["now"] -= 1
            r.reply(200, b"<html></html>")

        srv.route("/p", slow)
        from concurrent.futures import ThreadPoolExecutor

        with fetcher_for(srv, per_host_concurrency=2) as f, ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: f.get(srv.url("/p")), range(6)))
        assert active["max"] == 2


def test_items_left_when_the_fetch_budget_runs_out_are_fetched_first_by_the_next_runs(tmp_path: Path) -> None:
    """A run starts no request once its fetch budget is spent: the items left are recorded (failed, retryable,
    "not fetched", no attempt used) and later runs fetch them before newer items, even while the feed answers
    304, until every item is loaded. Each page is requested once."""
    links = [f"/a/{n}.html" for n in range(6)]
    page = ARTICLE_PAGE

    version = {"now": 1}
    with TestServer() as srv:

        def feed_handler(r: Request) -> None:
            etag = f'"v{version["now"]}"'
            if r.headers.get("If-None-Match") == etag:
                r.reply(304, ctype=None)
            else:  # version 2 adds two newer stories on top
                listed = links if version["now"] == 1 else ["/a/new1.html", "/a/new2.html", *links]
                r.reply(200, rss_of(listed), "application/rss+xml", ETag=etag)

        srv.route("/feed.xml", feed_handler)
        for path in [*links, "/a/new1.html", "/a/new2.html"]:
            srv.route(path, lambda r: r.reply(200, page))
        # One request at a time, 0.6 s apart, the poll included (at 0 s): at most two pages fit in 1.4 s.
        cfg = one_feed(
            tmp_path,
            srv,
            "per_host_min_delay_s: 0.6, per_host_concurrency: 1, concurrency: 1, fetch_budget_s: 1.4, "
            "max_item_attempts: 1, respect_robots: false, extract_workers: 1",
        )
        wh = tmp_path / "w.duckdb"

        def ledger() -> dict[str, tuple[Any, ...]]:
            return ledger_by_page(wh, "status, attempts, retryable, reason")

        first = run_cycle(cfg, wh, home=tmp_path, force=True)
        loaded = {k for k, v in ledger().items() if v[0] == "loaded"}
        left = {k for k, v in ledger().items() if v[0] != "loaded"}
        assert 1 <= len(loaded) < len(links) and first.not_fetched == len(left)
        assert first.fetched == len(loaded) and first.failures == []  # "not fetched" is not listed as failed
        for name in left:
            status, attempts, retryable, reason = ledger()[name]
            assert (status, attempts, retryable) == ("failed", 0, True)
            assert reason and reason.startswith("not fetched: the run's fetch budget ran out")
            assert srv.requests(f"/a/{name}") == []  # never requested
        with Warehouse(wh, read_only=True) as w:
            assert w.query("SELECT count(*) FROM retry_entries")[1] == [(len(left),)]

        second = run_cycle(cfg, wh, home=tmp_path, force=True)  # the feed answers 304
        assert second.feeds_not_modified == 1 and second.fetched >= 1
        version["now"] = 2  # two newer stories: the ones left wait no longer behind them
        assert len([v for v in ledger().values() if v[0] == "loaded"]) <= 4  # two runs, two pages each
        runs_with_waiting = 0
        for _ in range(8):
            before = {k for k, v in ledger().items() if v[0] == "loaded"}
            run_cycle(cfg, wh, home=tmp_path, force=True)
            now_loaded = {k for k, v in ledger().items() if v[0] == "loaded"} - before
            waiting = {f"{n}.html" for n in range(6)} - before
            if now_loaded - waiting:  # a run loads a new item only once no old one waits any longer
                assert waiting <= now_loaded, (now_loaded, waiting)
            runs_with_waiting += bool(waiting)
            if len(before | now_loaded) == len(links) + 2:
                break
        assert runs_with_waiting >= 1  # the new stories arrived while old ones still waited
        assert all(v[:3] == ("loaded", 1, False) for v in ledger().values()), ledger()
        with Warehouse(wh, read_only=True) as w:
            assert w.query("SELECT count(*) FROM articles")[1] == [(len(links) + 2,)]
            assert w.query("SELECT count(*) FROM retry_entries")[1] == [(0,)]
            assert w.ledger_violations() == []
    for path in [*links, "/a/new1.html", "/a/new2.html"]:
        assert len(srv.requests(path)) == 1, path


def test_items_of_a_host_that_asks_for_a_long_pause_are_left_without_using_an_attempt(tmp_path: Path) -> None:
    """A 429 with a Retry-After longer than the fetcher waits pauses the host: the page that got it used an
    attempt, the host's other items were never requested and wait for the next run with none used."""
    page = ARTICLE_PAGE
    rss = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        + "".join(
            f"<item><title>{n}</title><link>/a/{n}.html</link><guid>g{n}</guid></item>" for n in range(4)
        )
        + "</channel></rss>"
    ).encode()
    throttled = {"now": True}
    with TestServer() as srv:
        srv.static("/feed.xml", rss, "application/rss+xml")

        def story(r: Request) -> None:
            if throttled["now"]:
                r.reply(429, b"slow down", "text/plain", Retry_After="3600")
            else:
                r.reply(200, page)

        for n in range(4):
            srv.route(f"/a/{n}.html", story)
        cfg = one_feed(
            tmp_path,
            srv,
            "per_host_min_delay_s: 0, per_host_concurrency: 1, concurrency: 1, max_item_attempts: 2, "
            "respect_robots: false, extract_workers: 1",
        )
        wh = tmp_path / "w.duckdb"

        def ledger() -> dict[str, tuple[Any, ...]]:
            return ledger_by_page(wh, "status, attempts, reason")

        first = run_cycle(cfg, wh, home=tmp_path, force=True)
        assert first.not_fetched == 3 and first.failures == [(srv.url("/a/0.html"), "fetch http: HTTP 429")]
        assert "later:    3 of the failed items were not requested" in "\n".join(first.lines())
        assert ledger()["0.html"] == ("failed", 1, "fetch http: HTTP 429")
        for n in (1, 2, 3):
            status, attempts, reason = ledger()[f"{n}.html"]
            assert (status, attempts) == ("failed", 0) and reason.startswith("not fetched: host ")
            assert "Retry-After" in reason and srv.requests(f"/a/{n}.html") == []
        throttled["now"] = False  # and an hour has passed (the pause holds across runs until then)
        second = run_cycle(
            cfg, wh, home=tmp_path, force=True, now=datetime.now(UTC) + timedelta(hours=1, minutes=1)
        )
        assert second.load.articles_inserted == 4
        assert ledger() == {f"{n}.html": ("loaded", 2 if n == 0 else 1, None) for n in range(4)}


def test_a_pause_a_host_asked_for_holds_across_runs_until_it_ends(tmp_path: Path) -> None:
    """A Retry-After is kept in the warehouse: later runs request nothing from that host, neither its feeds
    (not polled, not counted as failing) nor its pages (left "not fetched", no attempt used), not even through
    a redirect from another host, until the pause ends; then everything loads."""
    page = ARTICLE_PAGE
    throttled = {"now": True}
    with TestServer() as feeds_host, TestServer() as pages:
        listed = [pages.url(f"/a/{n}.html") for n in range(3)] + [feeds_host.url("/r/3.html")]
        feeds_host.static("/feed.xml", rss_of(listed), "application/rss+xml")
        feeds_host.route(
            "/r/3.html", lambda r: r.reply(302, b"", "text/plain", Location=pages.url("/a/3.html"))
        )
        pages.static("/own.xml", rss_of([pages.url("/a/own.html")]), "application/rss+xml")

        def story(r: Request) -> None:
            if throttled["now"]:
                r.reply(429, b"slow down", "text/plain", Retry_After="3600")
            else:
                r.reply(200, page)

        for name in ("0", "1", "2", "3", "own"):
            pages.route(f"/a/{name}.html", story)
        cfg_file = tmp_path / "feeds.yaml"
        cfg_file.write_text(
            f"allow_hosts: ['{feeds_host.host}', '{pages.host}']\nfeeds:\n"
            f"  - {{name: elsewhere, url: '{feeds_host.url('/feed.xml')}'}}\n"
            f"  - {{name: own, url: '{pages.url('/own.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0, per_host_concurrency: 1, concurrency: 1, "
            "max_item_attempts: 2, respect_robots: false, extract_workers: 1}\n"
        )
        cfg = load_feeds_file(cfg_file)
        wh = tmp_path / "w.duckdb"

        def ledger() -> dict[str, tuple[Any, ...]]:
            return ledger_by_page(wh, "status, attempts, reason")

        first = run_cycle(cfg, wh, home=tmp_path, force=True)
        assert first.feeds_polled == 2 and first.not_fetched == 4  # one page got the 429, four waited
        with Warehouse(wh, read_only=True) as w:
            ((host, until, reason),) = w.query("SELECT host, until, reason FROM host_pauses")[1]
        assert host == pages.host and reason == "HTTP 429 with Retry-After: 3600"
        assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)
        after_first = ledger()
        assert sorted(a for _, a, _ in after_first.values()) == [0, 0, 0, 0, 1]

        throttled["now"] = False
        seen = len(pages.requests())
        second = run_cycle(cfg, wh, home=tmp_path, force=True)  # force: politeness is not forced
        assert len(pages.requests()) == seen  # nothing at all asked of the paused host
        assert second.feeds_polled == 1 and second.feeds_skipped == 1 and second.feeds_failed == 0
        assert second.not_fetched == 4 and second.fetched == 0  # "elsewhere" lists four paused pages
        for name, (status, attempts, why) in ledger().items():
            assert (status, attempts) == after_first[name][:2]
            if name in ("0.html", "1.html", "2.html"):  # planning held them back
                assert why.startswith(f"not fetched: host {pages.host} asked for a pause until ")
            elif name == "3.html":  # its redirect to the paused host was not followed
                assert why.startswith(f"not fetched: host {pages.host} asked us to wait ")

        later = datetime.now(UTC) + timedelta(hours=2)  # the pause has ended
        third = run_cycle(cfg, wh, home=tmp_path, force=True, now=later)
        assert third.feeds_polled == 2 and third.load.articles_inserted == 5
        assert {s for s, _, _ in ledger().values()} == {"loaded"}
        assert sorted(a for _, a, _ in ledger().values()) == [1, 1, 1, 1, 2]  # the 429 used one attempt
        with Warehouse(wh, read_only=True) as w:
            assert w.query("SELECT count(*) FROM host_pauses")[1] == [(0,)]  # ended pauses are dropped
            assert w.ledger_violations() == []


def test_robots_txt_asking_for_a_pause_costs_one_attempt_not_one_per_item(tmp_path: Path) -> None:
    """robots.txt answering 503 with Retry-After is a pause, not "robots.txt unreachable": no page is
    requested, only the item that asked for robots.txt uses an attempt, and the pause is kept."""
    rss = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        + "".join(
            f"<item><title>{n}</title><link>/a/{n}.html</link><guid>g{n}</guid></item>" for n in range(3)
        )
        + "</channel></rss>"
    ).encode()
    with TestServer() as srv:
        srv.static("/feed.xml", rss, "application/rss+xml")
        srv.route("/robots.txt", lambda r: r.reply(503, b"busy", "text/plain", Retry_After="1800"))
        cfg_file = tmp_path / "feeds.yaml"
        cfg_file.write_text(
            f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: test, url: '{srv.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0, respect_robots: true, extract_workers: 1}\n"
        )
        wh = tmp_path / "w.duckdb"
        summary = run_cycle(load_feeds_file(cfg_file), wh, home=tmp_path, force=True)
        assert summary.not_fetched == 2 and len(summary.failures) == 1
        with Warehouse(wh, read_only=True) as w:
            rows = w.query("SELECT status, attempts, retryable, reason FROM items")[1]
            assert w.query("SELECT reason FROM host_pauses")[1] == [("HTTP 503 with Retry-After: 1800",)]
    assert sorted(r[:3] for r in rows) == [("failed", 0, True), ("failed", 0, True), ("failed", 1, True)]
    reasons = sorted(r[3] for r in rows)  # the first asked robots.txt; the others found the host paused
    assert reasons[0] == "fetch http: robots.txt answered HTTP 503 with Retry-After: 1800 (a pause)"
    assert all(r.startswith("not fetched: host ") and "asked us to wait" in r for r in reasons[1:])
    assert [path for path, _ in srv.requests()].count("/robots.txt") == 1
    assert not any(path.startswith("/a/") for path, _ in srv.requests())
