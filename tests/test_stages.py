"""The file-to-file stages the DAGs call: re-running any of them, in any order a retry or a clear can
produce, leaves the warehouse as one clean run would."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from factories import rss_of
from newsflow import run as stages
from newsflow.config import FeedsFile, load_feeds_file
from newsflow.models import HostPause, ItemOutcome
from newsflow.quality import ensure_project
from newsflow.run import ingest as ingest_stages
from newsflow.run.parquet import write_records
from newsflow.sample import StaticSite
from newsflow.warehouse import Warehouse

TOPICS = ["border", "diplomacy", "aid"]
KEYS = {
    "articles": "SELECT article_id, canonical_url, title, body_hash, language, version FROM articles",
    "items": "SELECT item_id, feed, status, reason, article_id, attempts FROM items",
    "topics": "SELECT article_id, topic, classifier_version, score, assigned FROM article_topics",
    "polls": "SELECT poll_id, feed, status, items_seen, items_new FROM feed_polls",
    "validations": "SELECT suite, rows_evaluated, rows_failed FROM validation_runs",
    "feeds": "SELECT name, etag, body_hash, consecutive_failures FROM feeds",
}


def config(tmp: Path, site: StaticSite, other: StaticSite | None = None) -> FeedsFile:
    """The sample site's world and americas feeds; with ``other``, americas from that second host."""
    second = other or site
    path = tmp / "feeds.yaml"
    path.write_text(
        f"allow_hosts: ['127.0.0.1:{site.port}', '127.0.0.1:{second.port}']\nfeeds:\n"
        f"  - {{name: world, url: '{site.base_url}/feeds/world.xml'}}\n"
        f"  - {{name: americas, url: '{second.base_url}/feeds/americas.atom'}}\n"
        "settings: {per_host_min_delay_s: 0}\n"
    )
    return load_feeds_file(path)


def ingest(cfg: FeedsFile, home: Path, run_id: str, repeat: int) -> None:
    """One ingest run, with every task executed ``repeat`` times (as retries or cleared tasks would)."""
    warehouse = home / "warehouse.duckdb"
    specs = stages.plan_polls(cfg, warehouse, force=True)
    for _ in range(repeat):
        for spec in specs:
            stages.poll_stage(cfg, spec, run_id=run_id, home=home)
    for _ in range(repeat):
        batches = stages.plan_stage(cfg, run_id=run_id, home=home, warehouse=warehouse, batch_size=4)
    for _ in range(repeat):
        for batch in batches:
            stages.fetch_stage(cfg, batch, home=home)
    for _ in range(repeat):
        stages.finish_ingest(run_id=run_id, home=home)


def curate(cfg: FeedsFile, home: Path, repeat: int) -> dict[str, Any]:
    ensure_project(home)
    for _ in range(repeat):  # classify and validate cleared and re-run in turn, as a retried DAG run does
        classified = stages.classify_pending(cfg, home=home)
        validated = stages.validate_runs(classified["runs"], home=home, topic_names=TOPICS)
    result = stages.load_runs(validated["runs"], warehouse=home / "warehouse.duckdb")
    for _ in range(repeat - 1):  # a cleared load task: the marker says loaded
        assert stages.load_runs(validated["runs"], warehouse=home / "warehouse.duckdb")["runs"] == 0
    return result


def contents(home: Path) -> dict[str, list[tuple[object, ...]]]:
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        return {name: sorted(wh.query(sql)[1], key=repr) for name, sql in KEYS.items()}


def poll_and_plan_one_batch(cfg: FeedsFile, home: Path, batch_size: int = 25) -> str:
    """Run "r"'s poll and plan tasks; returns its one fetch batch."""
    warehouse = home / "warehouse.duckdb"
    for spec in stages.plan_polls(cfg, warehouse, force=True, home=home):
        stages.poll_stage(cfg, spec, run_id="r", home=home)
    (batch,) = stages.plan_stage(cfg, run_id="r", home=home, warehouse=warehouse, batch_size=batch_size)
    return batch


def fetch_task_dies_after_its_requests(
    monkeypatch: pytest.MonkeyPatch, cfg: FeedsFile, batch: str, home: Path
) -> None:
    """A fetch task's first try: every request made, then the task fails before staging its outcomes."""
    real = ingest_stages.fetch_articles

    def crash(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the task died after its requests")

    with monkeypatch.context() as m:
        m.setattr(ingest_stages, "fetch_articles", crash)
        with pytest.raises(RuntimeError, match="died"):
            stages.fetch_stage(cfg, batch, home=home)


def test_rerun_tasks_equal_one_run(tmp_path: Path) -> None:
    """Two hosts, so the run has several fetch batches (a host's items stay in one)."""
    with StaticSite(port=0) as site, StaticSite(port=0) as other:
        cfg = config(tmp_path, site, other)
        once, thrice = tmp_path / "once", tmp_path / "thrice"
        ingest(cfg, once, "run-1", repeat=1)
        curate(cfg, once, repeat=1)
        ingest(cfg, thrice, "run-1", repeat=3)
        result = curate(cfg, thrice, repeat=3)
    assert len(list((thrice / "staging" / "run-1" / "fetch").glob("batch-*.parquet"))) == 2
    # the story both feeds carry has a URL on each host here: two articles, no duplicate
    assert result["articles_inserted"] == 9 and result["duplicate"] == 0
    a, b = contents(once), contents(thrice)
    assert [len(b[k]) for k in KEYS] == [9, 9, 9 * 3, 2, 2, 2]
    # poll ids derive from the run id, so both homes hold the same rows, and the rerun home no extra ones
    assert a == b
    with Warehouse(thrice / "warehouse.duckdb", read_only=True) as wh:
        assert wh.ledger_violations() == []


def test_reloading_a_loaded_run_changes_nothing(tmp_path: Path) -> None:
    with StaticSite(port=0) as site:
        cfg = config(tmp_path, site)
        home = tmp_path / "home"
        ingest(cfg, home, "run-1", repeat=1)
        curate(cfg, home, repeat=1)
    before = contents(home)
    run = next((home / "staging").iterdir())
    (run / "loaded.json").unlink()  # as if the marker were lost after the commit
    again = stages.load_runs([str(run)], warehouse=home / "warehouse.duckdb")
    assert (
        again["runs"] == 1
        and again["articles_inserted"] == again["articles_updated"] == again["items_new"] == 0
    )
    assert contents(home) == before
    assert json.loads((run / "loaded.json").read_text())["articles_inserted"] == 0


def test_pending_runs_wait_for_their_manifest(tmp_path: Path) -> None:
    with StaticSite(port=0) as site:
        cfg = config(tmp_path, site)
        home = tmp_path / "home"
        specs = stages.plan_polls(cfg, home / "warehouse.duckdb")
        stages.poll_stage(cfg, specs[0], run_id="half", home=home)  # a run still in progress
        assert stages.pending_runs(home) == []
        assert stages.classify_pending(cfg, home=home)["runs"] == []
        stages.finish_ingest(run_id="half", home=home)
        assert [p.name for p in stages.pending_runs(home)] == ["half"]


def test_prune_staging_keeps_unloaded_runs(tmp_path: Path) -> None:
    home = tmp_path
    for name, loaded_at in [
        ("old", "2026-01-01T00:00:00+00:00"),
        ("new", None),
        ("fresh", "2026-11-27T00:00:00+00:00"),
    ]:
        folder = home / "staging" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        if loaded_at:
            (folder / "loaded.json").write_text(json.dumps({"loaded_at": loaded_at}))
    from datetime import UTC, datetime

    assert stages.prune_staging(home, 7, now=datetime(2026, 11, 27, 12, tzinfo=UTC)) == 1
    assert sorted(p.name for p in (home / "staging").iterdir()) == ["fresh", "new"]


def test_reclassifying_a_validated_run_keeps_its_quarantine(tmp_path: Path) -> None:
    """Classify, validate, then both again (a cleared curate run) before the load: the row that failed
    validation is still quarantined and the articles that load keep their topics."""
    from httpserver import TestServer
    from test_gate import feed, page

    dates = ["Wed, 25 Nov 2026 10:00:00 GMT"] * 3 + ["Sat, 01 Jan 2201 00:00:00 GMT"]
    with TestServer() as srv:
        items = [(f"story{n}", d) for n, d in enumerate(dates)]
        srv.static("/feed.xml", feed(srv, items), "application/rss+xml")
        for t, _ in items:
            srv.static(f"/a/{t}.html", page(t))
        path = tmp_path / "feeds.yaml"
        path.write_text(
            f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: f, url: '{srv.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0}\n"
        )
        cfg = load_feeds_file(path)
        home = tmp_path / "home"
        ingest(cfg, home, "run-q", repeat=1)
        result = curate(cfg, home, repeat=2)
    assert result["articles_inserted"] == 3
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        assert wh.query("SELECT status, count(*) FROM items GROUP BY 1 ORDER BY 1")[1] == [
            ("loaded", 3),
            ("quarantined", 1),
        ]
        assert wh.query("SELECT count(DISTINCT article_id), count(*) FROM article_topics")[1] == [(3, 9)]
        assert wh.ledger_violations() == []


def test_fetch_batches_keep_each_host_together() -> None:
    """Each fetch task has its own fetcher, whose per-host politeness covers only its own requests: a host
    must never be split over two batches (which Airflow fetches in parallel)."""
    from test_warehouse import make_item

    sizes = {"a.example": 30, "b.example": 3, "c.example:8080": 10, "d.example": 20}
    items = [
        make_item(n * 100 + i, url=f"https://{host}/story-{i}.html")
        for n, (host, count) in enumerate(sizes.items())
        for i in range(count)
    ]
    items.append(dataclasses.replace(make_item(999), link="not a url"))  # no host: fails alone, in any batch
    batches = stages.host_batches(items, 25)
    hosts = [{i.link.split("/")[2] if "//" in (i.link or "") else "" for i in b} for b in batches]
    assert hosts == [{"a.example"}, {"d.example"}, {"c.example:8080", "b.example", ""}]
    assert [len(b) for b in batches] == [30, 20, 14]  # the large host alone, whatever its length
    assert sorted(i.item_id for b in batches for i in b) == sorted(i.item_id for i in items)
    per_host = [i.link for b in batches for i in b if "a.example" in (i.link or "")]
    assert per_host == [i.link for i in items if "a.example" in (i.link or "")]  # order kept within a host
    assert stages.host_batches(items, 25) == batches  # the same plan gives the same batches


def test_fetch_batches_are_bounded_in_number_and_keep_hosts_whole() -> None:
    """Thousands of items over many small hosts: at most ``most`` batches, each host in one of them."""
    from test_warehouse import make_item

    items = [
        make_item(h * 1000 + i, url=f"https://host{h}.example/story-{i}.html")
        for h in range(300)
        for i in range(1 + h % 7)
    ]
    batches = stages.host_batches(items, 25, most=16)
    assert len(batches) == 16 and sum(len(b) for b in batches) == len(items)
    where: dict[str, set[int]] = {}
    for n, b in enumerate(batches):
        for i in b:
            where.setdefault(i.link.split("/")[2], set()).add(n)
    assert all(len(v) == 1 for v in where.values())  # never a host in two batches
    assert max(len(b) for b in batches) - min(len(b) for b in batches) <= 7  # sized alike
    assert len(stages.host_batches(items[:40], 25, most=16)) == 2  # few items: batches of about 25


def _feeds_file(tmp_path: Path, hosts: dict[str, int], **settings: Any) -> FeedsFile:
    lines = [
        f"  - {{name: {host.split('.')[0]}-{n}, url: 'https://{host}/feed-{n}.xml'}}"
        for host, count in hosts.items()
        for n in range(count)
    ]
    extra = ", ".join(f"{k}: {v}" for k, v in settings.items())
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + "\n".join(lines) + f"\nsettings: {{{extra}}}\n")
    return load_feeds_file(path)


def test_poll_groups_are_bounded_labelled_and_keep_each_hosts_feeds_together(tmp_path: Path) -> None:
    hosts = {"big.example": 70, **{f"small{h}.example": 1 + h % 4 for h in range(40)}}
    cfg = _feeds_file(tmp_path, hosts, poll_group_size=20, max_poll_groups=6)
    specs = [{"feed": f.name, "state": {}, "pauses": []} for f in cfg.feeds]
    groups = stages.poll_groups(cfg, specs)
    assert len(groups) == 5  # 170 feeds in at most 6 tasks: the big host alone, the rest in groups of 29
    assert sorted(s["feed"] for g in groups for s in g["specs"]) == sorted(s["feed"] for s in specs)
    owner = {}
    for g in groups:
        for spec in g["specs"]:
            owner.setdefault(spec["feed"].split("-")[0], set()).add(g["group"])
    assert all(len(v) == 1 for v in owner.values())  # a host's feeds in one group
    assert groups[0]["label"] == "big.example (70 feeds)"  # the largest host alone
    assert all(g["label"].endswith(f"({len(g['specs'])} feeds)") for g in groups)
    assert [g["group"] for g in groups] == [f"g{n:03d}" for n in range(5)]
    assert stages.poll_groups(cfg, specs) == groups  # a re-run of the task plans the same groups
    few = _feeds_file(tmp_path, {"a.example": 2, "b.example": 1})
    labels = [g["label"] for g in stages.poll_groups(few, [{"feed": f.name} for f in few.feeds])]
    assert labels == ["a.example +1 hosts (3 feeds)"]


def test_a_poll_group_stages_every_feeds_result(tmp_path: Path, home: Path) -> None:
    with StaticSite(port=0) as site:
        cfg = config(tmp_path, site)
        specs = stages.plan_polls(cfg, home / "warehouse.duckdb", force=True)
        (group,) = stages.poll_groups(cfg, specs)
        done = stages.poll_group_stage(cfg, group, run_id="r", home=home)
    assert (done["feeds"], done["failed"]) == (2, 0) and done["items"] > 0
    polls = stages.read_run(stages.run_dir(home, "r"), validated=False).polls
    assert sorted(p.feed for p in polls) == ["americas", "world"]


def test_a_run_planned_before_the_last_one_loaded_leaves_it_its_items(tmp_path: Path) -> None:
    """Curate lags: run 2 is planned while run 1 waits for its load, so the snapshot does not know run 1's
    items yet. Run 2 fetches none of them again, and loading both equals loading run 1 alone."""
    with StaticSite(port=0) as site:
        cfg = config(tmp_path, site)
        home, alone = tmp_path / "home", tmp_path / "alone"
        ingest(cfg, home, "run-1", repeat=1)
        pages = sum(n for path, n in site.hits.items() if path.startswith("/articles/"))
        ingest(cfg, home, "run-2", repeat=1)  # no warehouse yet: the feeds answer in full again
        assert sum(n for path, n in site.hits.items() if path.startswith("/articles/")) == pages
        assert list((home / "staging" / "run-2" / "fetch").glob("batch-*.parquet")) == []
        result = curate(cfg, home, repeat=1)
        ingest(cfg, alone, "run-1", repeat=1)
        curate(cfg, alone, repeat=1)
    assert result["articles_inserted"] == 8
    both, one = contents(home), contents(alone)
    assert {k: v for k, v in both.items() if k != "polls"} == {k: v for k, v in one.items() if k != "polls"}
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        assert wh.ledger_violations() == []


def test_a_fetch_task_out_of_budget_stages_the_rest_for_the_next_runs(tmp_path: Path) -> None:
    """The Airflow path: a fetch task whose budget runs out stages the items it did not fetch as such; the
    load records them, and the next runs (their feeds answering 304) fetch them, each page once."""
    with StaticSite(port=0) as site:
        path = tmp_path / "feeds.yaml"
        path.write_text(  # one request at a time, 0.5 s apart (robots.txt included): two pages per task
            f"allow_hosts: ['127.0.0.1:{site.port}']\nfeeds:\n"
            f"  - {{name: world, url: '{site.base_url}/feeds/world.xml'}}\n"
            f"  - {{name: americas, url: '{site.base_url}/feeds/americas.atom'}}\n"
            "settings: {per_host_min_delay_s: 0.5, per_host_concurrency: 1, concurrency: 1, "
            "fetch_budget_s: 1.2, extract_workers: 1}\n"
        )
        cfg, home = load_feeds_file(path), tmp_path / "home"
        ingest(cfg, home, "run-1", repeat=1)
        manifest = json.loads((home / "staging" / "run-1" / "manifest.json").read_text())
        assert manifest["articles_staged"] >= 1 and manifest["not_fetched"] >= 1
        assert manifest["failed"] == manifest["not_fetched"]
        assert curate(cfg, home, repeat=1)["articles_inserted"] == manifest["articles_staged"]
        for n in range(2, 10):
            with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
                if wh.query("SELECT count(*) FROM items WHERE status = 'failed'")[1] == [(0,)]:
                    break
            ingest(cfg, home, f"run-{n}", repeat=1)
            curate(cfg, home, repeat=1)
        hits = {p: k for p, k in site.hits.items() if p.startswith("/articles/")}
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        assert wh.query("SELECT count(*) FROM articles")[1] == [(8,)]
        listed = dict(
            wh.query("SELECT regexp_extract(link, '/articles/[^?#]*'), count(*) FROM items GROUP BY 1")[1]
        )
    assert (
        len(hits) == 8
    )  # every page was fetched, and at most once per item listing it (two feeds share one)
    assert all(1 <= n <= listed[path] for path, n in hits.items()), (hits, listed)
    with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
        polls = wh.query("SELECT status, count(*) FROM feed_polls GROUP BY ALL ORDER BY ALL")[1]
        assert polls[0] == ("not_modified", 2 * (n - 2)) and polls[1] == ("ok", 2)  # later runs: 304s
        assert wh.ledger_violations() == []


def test_the_airflow_path_keeps_a_hosts_pause_across_runs(tmp_path: Path) -> None:
    """A fetch task stages the pause a host asked for; the load stores it; the next run's planning sends
    nothing to that host (its items staged "not fetched", no fetch batch for them)."""
    from httpserver import Request, TestServer

    with TestServer() as feeds_host, TestServer() as pages:
        links = [pages.url(f"/a/{n}.html") for n in range(3)]
        feeds_host.static("/feed.xml", rss_of(links), "application/rss+xml")

        def story(r: Request) -> None:
            r.reply(429, b"slow down", "text/plain", Retry_After="3600")

        for n in range(3):
            pages.route(f"/a/{n}.html", story)
        path = tmp_path / "feeds.yaml"
        path.write_text(
            f"allow_hosts: ['{feeds_host.host}', '{pages.host}']\n"
            f"feeds:\n  - {{name: f, url: '{feeds_host.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0, per_host_concurrency: 1, concurrency: 1, "
            "respect_robots: false, extract_workers: 1}\n"
        )
        cfg, home = load_feeds_file(path), tmp_path / "home"
        ingest(cfg, home, "run-1", repeat=1)
        assert (home / "staging" / "run-1" / "pauses" / "batch-0000.parquet").is_file()
        curate(cfg, home, repeat=1)
        with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
            assert [(p.host, p.reason) for p in wh.host_pauses()] == [
                (pages.host, "HTTP 429 with Retry-After: 3600")
            ]
        asked = len(pages.requests())
        assert asked == 1  # the first page's 429 paused the host for the rest of the task
        ingest(cfg, home, "run-2", repeat=1)
        assert len(pages.requests()) == asked  # the second run asked nothing of it
        assert list((home / "staging" / "run-2" / "fetch").glob("batch-*.parquet")) == []
        manifest = json.loads((home / "staging" / "run-2" / "manifest.json").read_text())
        assert manifest["not_fetched"] == 3 and manifest["failed"] == 3
        curate(cfg, home, repeat=1)
        with Warehouse(home / "warehouse.duckdb", read_only=True) as wh:
            rows = wh.query("SELECT attempts, reason FROM items ORDER BY attempts")[1]
            assert [a for a, _ in rows] == [0, 0, 1]  # only the page that got the 429 used an attempt
            assert all("asked for a pause until" in reason for _, reason in rows)
            assert wh.ledger_violations() == []


def test_a_replanned_run_with_fewer_batches_stages_each_item_once(tmp_path: Path) -> None:
    """A plan task re-run after its fetch tasks ran (cleared, or the snapshot changed) may cut fewer batches:
    the stale batch and its outcomes go, so no item is staged twice (the load would fail on it for good)."""
    with StaticSite(port=0) as site, StaticSite(port=0) as other:
        cfg, home = config(tmp_path, site, other), tmp_path / "home"
        warehouse = home / "warehouse.duckdb"
        for spec in stages.plan_polls(cfg, warehouse, force=True):
            stages.poll_stage(cfg, spec, run_id="r", home=home)
        first = stages.plan_stage(cfg, run_id="r", home=home, warehouse=warehouse, batch_size=4)
        assert len(first) == 2  # one per host
        for batch in first:
            stages.fetch_stage(cfg, batch, home=home)
        met = HostPause(
            "news.example", datetime.now(UTC) + timedelta(hours=1), "HTTP 429 with Retry-After: 3600"
        )
        paused = home / "staging" / "r" / "pauses" / "batch-0001.parquet"
        write_records(paused, HostPause, [met])  # as if the second fetch task had met a pause
        again = stages.plan_stage(cfg, run_id="r", home=home, warehouse=warehouse, batch_size=100)
        assert len(again) == 1  # both hosts fit in one batch now
        assert stages.staged_pauses(home / "staging" / "r") == [met]  # a host's pause outlives the batch
        for batch in again:
            stages.fetch_stage(cfg, batch, home=home)
        stages.finish_ingest(run_id="r", home=home)
        loaded = curate(cfg, home, repeat=1)["articles_inserted"]
    with Warehouse(warehouse, read_only=True) as wh:
        assert wh.ledger_violations() == []
        assert wh.query("SELECT count(*) FROM items")[1] == [(loaded,)] and loaded >= 8  # all, loaded once


def test_a_retried_fetch_task_honours_the_pause_its_first_attempt_met(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch task that failed after a host asked for a pause (the pause is staged even then) is retried by
    Airflow: the retry asks that host nothing until the pause ends."""
    from httpserver import Request, TestServer

    with TestServer() as srv:
        links = [srv.url(f"/a/{n}.html") for n in range(3)]
        srv.static("/feed.xml", rss_of(links), "application/rss+xml")

        def story(r: Request) -> None:
            r.reply(429, b"slow down", "text/plain", Retry_After="3600")

        for n in range(3):
            srv.route(f"/a/{n}.html", story)
        path = tmp_path / "feeds.yaml"
        path.write_text(
            f"allow_hosts: ['{srv.host}']\nfeeds:\n  - {{name: f, url: '{srv.url('/feed.xml')}'}}\n"
            "settings: {per_host_min_delay_s: 0, concurrency: 1, respect_robots: false, extract_workers: 1}\n"
        )
        cfg, home = load_feeds_file(path), tmp_path / "home"
        batch = poll_and_plan_one_batch(cfg, home)
        fetch_task_dies_after_its_requests(monkeypatch, cfg, batch, home)  # one 429, then it fails
        assert [p for p, _ in srv.requests() if p.startswith("/a/")] == ["/a/0.html"]
        assert not (home / "staging" / "r" / "outcomes" / "batch-0000.parquet").exists()
        stages.fetch_stage(cfg, batch, home=home)  # Airflow's retry
        assert [p for p, _ in srv.requests() if p.startswith("/a/")] == ["/a/0.html"]  # nothing more asked
        stages.finish_ingest(run_id="r", home=home)
        manifest = json.loads((home / "staging" / "r" / "manifest.json").read_text())
        # The page that got the 429 keeps that outcome (the retry found it in the journal); the others wait.
        assert manifest["not_fetched"] == 2 and manifest["failed"] == 3


def test_a_retried_fetch_task_refetches_nothing_its_first_attempt_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch task that dies after its downloads (killed, timed out, a broken worker pool) leaves them in its
    journal: Airflow's retry requests no page again, stages every outcome, then drops the journal."""
    from newsflow.run.parquet import read_records

    with StaticSite(port=0) as site:
        cfg, home = config(tmp_path, site), tmp_path / "home"
        warehouse = home / "warehouse.duckdb"
        batch = poll_and_plan_one_batch(cfg, home, batch_size=50)
        fetch_task_dies_after_its_requests(monkeypatch, cfg, batch, home)
        first = {p: n for p, n in site.hits.items() if p.startswith("/articles/")}
        assert first and len(list(stages.batch_journal(Path(batch)).glob("*.gz"))) >= len(first)
        staged = stages.fetch_stage(cfg, batch, home=home)  # Airflow's retry
        assert {p: n for p, n in site.hits.items() if p.startswith("/articles/")} == first
    assert not stages.batch_journal(Path(batch)).exists()
    outcomes = read_records(Path(staged["path"]), ItemOutcome)
    assert staged["loaded"] == sum(o.status == "loaded" for o in outcomes) >= len(first) - 1
    assert all(o.article is None or o.article.raw_path for o in outcomes)  # the raw store has the pages
    stages.finish_ingest(run_id="r", home=home)
    curate(cfg, home, repeat=1)
    with Warehouse(warehouse, read_only=True) as wh:
        assert wh.ledger_violations() == []
        loaded = {o.article_id for o in outcomes if o.status == "loaded"}  # two feeds share one story
        assert wh.query("SELECT count(*) FROM articles")[1] == [(len(loaded),)]


def test_a_load_with_nothing_new_publishes_the_feed_state_not_the_whole_snapshot(tmp_path: Path) -> None:
    """A cycle that brings nothing new changes only feed status: the writer publishes the small feed state
    (which planning reads) and leaves the analysts' snapshot, a copy of the whole file, for a load that
    changes content or for when it is older than ``snapshot_max_age_min``. Planning never polls a feed early
    for it: it plans with the state the last load wrote."""
    from newsflow.warehouse import open_feed_state, snapshot_path, state_path

    with StaticSite(port=0) as site:
        cfg, home = config(tmp_path, site), tmp_path / "home"
        warehouse = home / "warehouse.duckdb"
        ingest(cfg, home, "run-1", repeat=1)
        assert curate(cfg, home, repeat=1)["snapshot_published"] is True  # new articles
        snapshot = snapshot_path(warehouse)
        published = snapshot.stat().st_mtime_ns
        ingest(cfg, home, "run-2", repeat=1)  # forced polls: every feed answers 304
        ensure_project(home)
        classified = stages.classify_pending(cfg, home=home)
        validated = stages.validate_runs(classified["runs"], home=home, topic_names=TOPICS)
        loaded = stages.load_runs(validated["runs"], warehouse=warehouse, snapshot_max_age_s=3600)
    assert loaded["runs"] == 1 and loaded["snapshot_published"] is False
    assert snapshot.stat().st_mtime_ns == published  # not copied again
    with Warehouse(warehouse, read_only=True) as live:
        live_states = live.feed_states()
        polls = live.query("SELECT count(*) FROM feed_polls")[1]
    with Warehouse(snapshot, read_only=True) as old:
        assert old.query("SELECT count(*) FROM feed_polls")[1] != polls  # analysts' feed status lags
        old_states = old.feed_states()
    feed_state = open_feed_state(warehouse)
    assert feed_state is not None and feed_state.path == state_path(warehouse)
    with feed_state:
        assert feed_state.feed_states() == live_states != old_states
    # Planning at a time when the snapshot's state says "due" but the last poll's does not: nothing is due.
    soon = min(s.next_poll_at for s in old_states.values() if s.next_poll_at) + timedelta(seconds=0.5)
    assert soon < min(s.next_poll_at for s in live_states.values() if s.next_poll_at)
    assert stages.plan_polls(cfg, warehouse, now=soon, home=home) == []
    with Warehouse(warehouse) as wh:  # an old snapshot is republished even when nothing changed
        assert wh.publish(changed_content=False, max_age_s=0) is True
    assert snapshot.stat().st_mtime_ns != published
