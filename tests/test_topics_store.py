"""Topic rows in the warehouse: stored with the load, in v_articles, re-classified without refetching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import SHARED, need_shared
from newsflow.cli import main
from newsflow.models import Batch
from newsflow.run import reclassify
from newsflow.topics import DEFAULT_TAXONOMY_FILE, classify_articles, make_classifier
from newsflow.warehouse import Warehouse
from test_warehouse import NOW, loaded, make_item, poll


def seed_text() -> str:
    return need_shared(SHARED / "seed" / "article.txt").read_text(encoding="utf-8")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A warehouse with the seed story and a dog-show story, classified at load."""
    path = tmp_path / "w.duckdb"
    items = [make_item(1), make_item(2)]
    outcomes = [
        loaded(items[0], seed_text()),
        loaded(items[1], "Juniper the border collie won best in show."),
    ]
    articles = [o.article for o in outcomes if o.article]
    topics = classify_articles(articles, make_classifier())
    with Warehouse(path) as wh:
        wh.load_batch(Batch(polls=[poll("f", items)], outcomes=outcomes, topics=topics), now=NOW)
    return path


def topics_by_story(path: Path) -> dict[str, list[str]]:
    with Warehouse(path, read_only=True) as wh:
        return dict(wh.query("SELECT title, topics FROM v_articles")[1])


def test_topics_stored_with_the_load(warehouse: Path) -> None:
    assert topics_by_story(warehouse) == {"Story 1": ["aid", "border", "diplomacy"], "Story 2": []}
    with Warehouse(warehouse, read_only=True) as wh:
        rows = wh.query(
            "SELECT count(*), count(DISTINCT classifier_version), min(score), max(score) FROM article_topics"
        )
        evidence = wh.query("SELECT evidence FROM article_topics WHERE assigned AND topic = 'border'")[1][0][
            0
        ]
    count, versions, low, high = rows[1][0]
    assert count == 6 and versions == 1 and 0 <= low <= high <= 1
    assert json.loads(evidence)["terms"]  # what fired is stored with the score


def test_reclassify_after_a_taxonomy_change(warehouse: Path, tmp_path: Path) -> None:
    first = reclassify(warehouse)  # same taxonomy: nothing to write
    assert first.articles == 2 and first.rows_written == 0 and first.rows_removed == 0

    data = yaml.safe_load(DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8"))
    data["topics"]["aid"]["threshold"] = 0.99  # a stricter aid topic
    changed = tmp_path / "taxonomy.yaml"
    changed.write_text(yaml.safe_dump(data, allow_unicode=True))
    second = reclassify(warehouse, changed)
    assert second.classifier_version != first.classifier_version
    assert second.rows_written == 6 and second.rows_removed == 6
    assert topics_by_story(warehouse)["Story 1"] == ["border", "diplomacy"]
    with Warehouse(warehouse, read_only=True) as wh:
        versions = wh.query("SELECT DISTINCT classifier_version FROM article_topics")[1]
    assert versions == [(second.classifier_version,)]
    assert reclassify(warehouse, changed).rows_written == 0  # idempotent


def test_reclassify_command(
    warehouse: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSFLOW_FEEDS", raising=False)
    assert main(["reclassify", "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "taxonomy: the packaged default" in out and "2 articles, 0 topic rows written" in out


def test_reclassify_command_uses_the_feeds_files_taxonomy(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A taxonomy set in the feeds file (as `newsflow run` and the DAGs use it) is the one re-scoring uses:
    re-classifying without naming it must not put the packaged taxonomy back."""
    data = yaml.safe_load(DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8"))
    data["topics"]["aid"]["threshold"] = 0.99
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {name: f, url: 'https://news.example/rss'}\ntaxonomy: strict.yaml\n")
    wh = ["--warehouse", str(warehouse)]

    assert main(["reclassify", *wh, "--feeds", str(feeds)]) == 0
    out = capsys.readouterr().out
    assert f"taxonomy: {tmp_path / 'strict.yaml'} (from {feeds})" in out and "6 topic rows written" in out
    assert topics_by_story(warehouse)["Story 1"] == ["border", "diplomacy"]

    monkeypatch.setenv("NEWSFLOW_FEEDS", str(feeds))  # the DAGs' feeds file is the default
    assert main(["reclassify", *wh]) == 0
    assert "0 topic rows written, 0 rows of other versions removed" in capsys.readouterr().out
    assert topics_by_story(warehouse)["Story 1"] == ["border", "diplomacy"]

    with pytest.raises(SystemExit) as exc:  # one source of taxonomy at a time
        main(["reclassify", *wh, "--feeds", str(feeds), "--taxonomy", str(tmp_path / "strict.yaml")])
    assert exc.value.code == 2


def test_eval_topics_command(capsys: pytest.CaptureFixture[str]) -> None:
    dev = need_shared(SHARED / "labels" / "dev.jsonl")
    assert main(["eval-topics", str(dev), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["per_topic"]) == {"border", "diplomacy", "aid"}
    assert 0 <= result["macro_f1"] <= 1 and 0 <= result["false_positive_rate"] <= 1
