"""Measure the topic classifier against labelled data (``eval-topics FILE.jsonl [--json]``).

The file holds one JSON object a line with ``id``, ``title``, ``text`` and ``labels`` (a list of topic
names), like ``shared/labels/dev.jsonl``. The result gives per-topic precision, recall and F1, their macro
average, the false-positive rate (the share of items labelled with no topic that got any topic) and every
misclassified item with the evidence of the topics it got wrong.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from newsflow.topics.classifier import Classifier
from newsflow.topics.taxonomy import TaxonomyError, load_taxonomy

LOGGER = logging.getLogger(__name__)


class EvalDataError(ValueError):
    """A labelled file is missing, unreadable or has an invalid line."""


def read_labelled(path: str | Path) -> list[dict[str, Any]]:
    """Read a labelled JSONL file; every line needs ``labels`` (list of str) and ``title`` or ``text``."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalDataError(f"{p}: cannot read: {exc}") from exc
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalDataError(f"{p}:{n}: not valid JSON: {exc}") from exc
        if not isinstance(item, dict):
            raise EvalDataError(f"{p}:{n}: each line must be a JSON object")
        labels = item.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise EvalDataError(f"{p}:{n}: 'labels' must be a list of topic names")
        if not isinstance(item.get("title", ""), str) or not isinstance(item.get("text", ""), str):
            raise EvalDataError(f"{p}:{n}: 'title' and 'text' must be strings")
        item.setdefault("id", f"line-{n}")
        items.append(item)
    if not items:
        raise EvalDataError(f"{p}: no labelled items")
    return items


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    if tp + fp + fn == 0:  # topic absent from gold and never predicted: nothing to get wrong
        precision = recall = f1 = 1.0
    else:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "support": tp + fn,
    }


def evaluate(path: str | Path, classifier: Classifier | None = None) -> dict[str, Any]:
    """Classify every item of a labelled file and score the decisions against its labels."""
    clf = classifier if classifier is not None else Classifier()
    items = read_labelled(path)
    known = set(clf.topics)
    counts = {t: [0, 0, 0] for t in clf.topics}  # tp, fp, fn
    unknown_labels: dict[str, int] = {}
    misclassified = []
    n_none = 0
    n_none_flagged = 0
    for item in items:
        expected = [t for t in clf.topics if t in item["labels"]]
        for label in item["labels"]:
            if label not in known:
                unknown_labels[label] = unknown_labels.get(label, 0) + 1
        scores = clf.classify(item.get("title"), item.get("text"))
        got = [s.topic for s in scores if s.assigned]
        for t in clf.topics:
            if t in got and t in expected:
                counts[t][0] += 1
            elif t in got:
                counts[t][1] += 1
            elif t in expected:
                counts[t][2] += 1
        if not expected:
            n_none += 1
            n_none_flagged += bool(got)
        if set(got) != set(expected):
            wrong = set(got) ^ set(expected)
            misclassified.append(
                {
                    "id": item["id"],
                    "title": item.get("title", ""),
                    "expected": expected,
                    "got": got,
                    "hard": bool(item.get("hard", False)),
                    "scores": {s.topic: s.score for s in scores},
                    "evidence": {s.topic: s.evidence for s in scores if s.topic in wrong},
                }
            )
    per_topic = {t: _prf(*counts[t]) for t in clf.topics}
    macro_f1 = sum(m["f1"] for m in per_topic.values()) / len(per_topic)
    result: dict[str, Any] = {
        "file": str(path),
        "classifier_version": clf.version,
        "items": len(items),
        "macro_f1": round(macro_f1, 4),
        "per_topic": per_topic,
        "false_positive_rate": round(n_none_flagged / n_none, 4) if n_none else 0.0,
        "none_items": n_none,
        "exact_match": round(1 - len(misclassified) / len(items), 4),
        "misclassified": misclassified,
    }
    if unknown_labels:
        result["unknown_labels"] = unknown_labels
    return result


def _terms(evidence: dict[str, Any], limit: int = 6) -> str:
    fired = [f"{t['term']}({t['title']}t/{t['body']}b)" for t in evidence.get("terms", [])[:limit]]
    return ", ".join(fired) or "no evidence"


def format_report(result: dict[str, Any]) -> str:
    """A human-readable report of :func:`evaluate`'s result."""
    lines = [
        f"{result['file']}: {result['items']} items, classifier {result['classifier_version']}",
        "",
        f"{'topic':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for topic, m in result["per_topic"].items():
        lines.append(
            f"{topic:<16}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>10}"
        )
    lines += [
        "",
        f"macro-F1             {result['macro_f1']:.3f}",
        f"false-positive rate  {result['false_positive_rate']:.3f}"
        f"  (of {result['none_items']} items with no topic)",
        f"exact match          {result['exact_match']:.3f}",
    ]
    if result.get("unknown_labels"):
        lines.append(f"labels not in the taxonomy (ignored): {result['unknown_labels']}")
    wrong = result["misclassified"]
    lines += ["", f"misclassified: {len(wrong)}"]
    for item in wrong:
        hard = " [hard]" if item.get("hard") else ""
        lines.append(f"- {item['id']}{hard}: expected {item['expected']} got {item['got']} | {item['title']}")
        for topic, evidence in item["evidence"].items():
            lines.append(f"    {topic} score={item['scores'][topic]:.3f}: {_terms(evidence)}")
    return "\n".join(lines)


def eval_topics_parser(prog: str = "newsflow eval-topics") -> argparse.ArgumentParser:
    """The argument parser of ``eval-topics`` (reusable as a subcommand)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Score the topic classifier on a labelled JSONL file."
    )
    parser.add_argument("file", type=Path, help="labelled JSONL (id, title, text, labels), like dev.jsonl")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default: packaged)")
    parser.add_argument(
        "--fail-under", type=float, default=None, metavar="F1", help="exit 1 when macro-F1 is below this"
    )
    return parser


def run_eval_topics(args: argparse.Namespace) -> int:
    """Run ``eval-topics`` with parsed arguments; returns the exit code."""
    try:
        classifier = Classifier(load_taxonomy(args.taxonomy))
        result = evaluate(args.file, classifier)
    except (TaxonomyError, EvalDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_report(result))
    if args.fail_under is not None and result["macro_f1"] < args.fail_under:
        print(f"macro-F1 {result['macro_f1']:.4f} is below {args.fail_under}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``eval-topics FILE [--json] [--taxonomy PATH] [--fail-under F1]``."""
    return run_eval_topics(eval_topics_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
