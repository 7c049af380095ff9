"""The real Global Voices mini-site end to end through `newsflow run` on a loopback server."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import CORPUS, need_shared
from newsflow.cli import main
from newsflow.sample import StaticSite
from newsflow.warehouse import Warehouse

pytestmark = pytest.mark.integration


def f1(pred: str, gold: str) -> float:
    p, g = (Counter(re.findall(r"\w+", t.lower())) for t in (pred, gold))
    overlap = sum((p & g).values())
    return 0.0 if not overlap else 2 * overlap / (sum(p.values()) + sum(g.values()))


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with Warehouse(path, read_only=True) as wh:
        return {
            t: wh.query(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in ("articles", "items", "article_topics")
        }


def test_globalvoices_end_to_end(tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_dir = tmp_path / "site"
    shutil.copytree(need_shared(CORPUS / "articles" / "globalvoices"), site_dir / "gv")
    shutil.copy(CORPUS / "feeds" / "news" / "mcbackend__globalvoices_test.rss", site_dir / "feed.rss")
    warehouse = tmp_path / "gv.duckdb"
    with StaticSite(site_dir) as site:
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(
            f"allow_hosts: ['127.0.0.1:{site.port}']\n"
            f"feeds:\n  - name: globalvoices\n    url: {site.base_url}/feed.rss\n"
            "settings:\n  per_host_min_delay_s: 0\n"
        )
        assert main(["run", "--feeds", str(feeds), "--warehouse", str(warehouse)]) == 0
        out = capsys.readouterr().out
        assert "15 seen, 15 new" in out and "15 loaded" in out, out
        page_hits = {p: n for p, n in site.hits.items() if p.startswith("/gv/")}
        assert len(page_hits) == 15 and set(page_hits.values()) == {1}
        first = snapshot(warehouse)

        assert main(["run", "--feeds", str(feeds), "--warehouse", str(warehouse), "--force"]) == 0
        out = capsys.readouterr().out
        assert "1 unchanged (304 or same body)" in out and "0 fetched" in out, out
        assert {
            p: n for p, n in site.hits.items() if p.startswith("/gv/")
        } == page_hits  # no article refetched
        assert site.hits["/feed.rss"] == 2
    assert snapshot(warehouse) == first  # no row changed

    with Warehouse(warehouse, read_only=True) as wh:
        assert wh.ledger_violations() == []
        rows = wh.query("SELECT url, body, language, title, body_source FROM v_articles")[1]
        polls = wh.query(
            "SELECT status, http_status, items_seen, items_new FROM feed_polls ORDER BY started_at"
        )[1]
    assert len(rows) == 15
    assert polls == [("ok", 200, 15, 15), ("not_modified", 304, 0, 0)]
    scores = []
    for url, body, language, title, source in rows:
        name = url.rsplit("/", 1)[1].replace(".html", "")
        gold = (CORPUS / "articles" / "globalvoices" / f"{name}.gold.txt").read_text(encoding="utf-8")
        scores.append(f1(body, gold))
        assert language == "en" and title and source == "extracted"
    assert min(scores) >= 0.6, scores
    assert sum(scores) / len(scores) >= 0.85, scores
