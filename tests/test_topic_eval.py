"""Topic evaluation: metrics, the report, the eval-topics command, and the dev-set quality gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import need_shared
from newsflow.topics import Classifier
from newsflow.topics.evaluation import EvalDataError, evaluate, format_report, main, read_labelled

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEV = SHARED / "labels" / "dev.jsonl"
BASELINE = REPO / "tests" / "baselines" / "topics.json"


@pytest.fixture(scope="module")
def dev_result() -> dict:
    return evaluate(need_shared(DEV))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {  # border, classified correctly
        "id": "a",
        "title": "Deportation flights resume to Guatemala",
        "text": "Immigration officials resumed deportation flights carrying 130 migrants on Monday.",
        "labels": ["border"],
    },
    {  # labelled none, but it is about asylum: a false positive for the metric
        "id": "b",
        "title": "Asylum seekers wait at the crossing",
        "text": "Hundreds of asylum seekers waited at the border crossing for appointments with immigration "
        "officers. Migrants slept in shelters.",
        "labels": [],
    },
    {  # labelled none, correctly none
        "id": "c",
        "title": "Arsenal beat Villa to go top",
        "text": "Arsenal scored twice late on to beat Aston Villa 2-1 and move top of the league.",
        "labels": [],
    },
    {  # labelled aid, but nothing in it: a false negative
        "id": "d",
        "title": "Mayor opens a new library",
        "text": "The mayor opened a new library on Saturday.",
        "labels": ["aid", "elections"],
    },
]


def test_metrics_on_a_small_file(tmp_path: Path) -> None:
    result = evaluate(write_jsonl(tmp_path / "small.jsonl", ROWS), Classifier())
    border = result["per_topic"]["border"]
    assert (border["tp"], border["fp"], border["fn"]) == (1, 1, 0)
    assert border["precision"] == 0.5 and border["recall"] == 1.0 and border["f1"] == pytest.approx(0.6667)
    aid = result["per_topic"]["aid"]
    assert (aid["tp"], aid["fp"], aid["fn"]) == (0, 0, 1) and aid["f1"] == 0.0
    # diplomacy: never labelled and never predicted -> nothing to get wrong
    assert result["per_topic"]["diplomacy"]["f1"] == 1.0
    assert result["macro_f1"] == pytest.approx((0.6667 + 1.0 + 0.0) / 3, abs=1e-3)
    assert result["false_positive_rate"] == 0.5  # b of the two items labelled with no topic
    assert result["unknown_labels"] == {"elections": 1}
    wrong = {m["id"]: m for m in result["misclassified"]}
    assert set(wrong) == {"b", "d"}
    assert wrong["b"]["expected"] == [] and wrong["b"]["got"] == ["border"]
    assert wrong["b"]["title"] == "Asylum seekers wait at the crossing"
    assert wrong["b"]["evidence"]["border"]["terms"]  # the evidence of the wrong topic
    assert set(wrong["d"]["evidence"]) == {"aid"}
    json.dumps(result)


def test_dev_json_shape(dev_result: dict) -> None:
    assert set(dev_result) >= {"macro_f1", "per_topic", "false_positive_rate", "misclassified"}
    assert list(dev_result["per_topic"]) == ["border", "diplomacy", "aid"]
    for metrics in dev_result["per_topic"].values():
        assert set(metrics) >= {"precision", "recall", "f1"}
        assert all(0.0 <= metrics[k] <= 1.0 for k in ("precision", "recall", "f1"))
    assert dev_result["items"] == 60


def test_quality_gate_dev_macro_f1_not_below_pinned_baseline(dev_result: dict) -> None:
    pinned = json.loads(BASELINE.read_text(encoding="utf-8"))["dev_macro_f1"]
    assert dev_result["macro_f1"] >= pinned, format_report(dev_result)


def test_dev_false_positive_rate_is_low(dev_result: dict) -> None:
    assert dev_result["false_positive_rate"] <= 0.1, format_report(dev_result)


def test_report_lists_topics_and_misclassified(tmp_path: Path) -> None:
    report = format_report(evaluate(write_jsonl(tmp_path / "small.jsonl", ROWS)))
    for needle in (
        "border",
        "diplomacy",
        "aid",
        "macro-F1",
        "false-positive rate",
        "misclassified: 2",
        "- b:",
    ):
        assert needle in report


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(need_shared(DEV)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["macro_f1"] >= 0.9
    assert set(out["per_topic"]["border"]) >= {"precision", "recall", "f1"}


def test_cli_report_and_fail_under(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = write_jsonl(tmp_path / "small.jsonl", ROWS)
    assert main([str(small)]) == 0
    assert "macro-F1" in capsys.readouterr().out
    assert main([str(small), "--fail-under", "0.99"]) == 1


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.jsonl")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: {border: {treshold: 0.5}}\n", encoding="utf-8")
    assert main([str(tmp_path / "any.jsonl"), "--taxonomy", str(bad)]) == 2
    assert "treshold" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "not valid JSON"),
        ('{"title": "x", "text": "y"}\n', "'labels'"),
        ('{"title": "x", "labels": "border"}\n', "'labels'"),
        ("[1, 2]\n", "JSON object"),
        ("\n\n", "no labelled items"),
    ],
)
def test_invalid_labelled_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalDataError, match=message):
        read_labelled(path)
