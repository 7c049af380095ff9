"""Benchmark the topic classifier on real article texts, in one process on one core.

Classifies the human-annotated texts of the 181 real pages in ``../shared/corpus/articles/aeb`` (title = first
line, body = the rest), repeated until at least ``--min-articles`` articles, prints articles per second and
writes the measurements as JSON to ``--out``.

    PYTHONPATH=include python bench/bench_classify.py [--out bench/results/classify.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "articles" / "aeb"
DEFAULT_OUT = REPO / "bench" / "results" / "classify.json"

try:
    from newsflow.topics import Classifier
except ImportError:  # run from a checkout without PYTHONPATH=include
    sys.path.insert(0, str(REPO / "include"))
    from newsflow.topics import Classifier


def load_articles(corpus: Path) -> list[tuple[str, str]]:
    """(title, body) of every ``*.gold.txt`` in the folder: the first line is the title."""
    articles = []
    for path in sorted(corpus.glob("*.gold.txt")):
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        articles.append((title.strip(), body))
    return articles


def pin_to_one_core() -> int | None:
    """Restrict this process to one CPU where the platform allows it; returns the core or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of *.gold.txt")
    parser.add_argument("--min-articles", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)

    articles = load_articles(args.corpus)
    if not articles:
        print(f"no *.gold.txt in {args.corpus}", file=sys.stderr)
        return 2
    core = pin_to_one_core()
    classifier = Classifier()
    classifier.classify(*articles[0])  # warm-up: phrase caches

    rounds = -(-args.min_articles // len(articles))
    latencies = []
    flagged = set()
    start = time.perf_counter()
    for _ in range(rounds):
        for i, (title, body) in enumerate(articles):
            t0 = time.perf_counter()
            scores = classifier.classify(title, body)
            latencies.append(time.perf_counter() - t0)
            if any(s.assigned for s in scores):
                flagged.add(i)
    elapsed = time.perf_counter() - start

    n = len(latencies)
    chars = sum(len(t) + len(b) for t, b in articles) * rounds
    latencies.sort()
    result = {
        "classifier_version": classifier.version,
        "corpus": str(args.corpus),
        "distinct_articles": len(articles),
        "mean_chars_per_article": round(chars / n),
        "articles": n,
        "seconds": round(elapsed, 3),
        "articles_per_s": round(n / elapsed, 1),
        "chars_per_s": round(chars / elapsed),
        "latency_ms": {
            "median": round(statistics.median(latencies) * 1000, 3),
            "p95": round(latencies[int(0.95 * (n - 1))] * 1000, 3),
            "max": round(latencies[-1] * 1000, 3),
        },
        "share_with_any_topic": round(len(flagged) / len(articles), 4),
        "pinned_core": core,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{n} articles in {elapsed:.2f} s on one core: {result['articles_per_s']:.0f} articles/s "
        f"(median {result['latency_ms']['median']:.2f} ms, p95 {result['latency_ms']['p95']:.2f} ms); "
        f"wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
