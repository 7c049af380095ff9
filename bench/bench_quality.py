"""Quality gate at steady state: a batch's GX validation and Data Docs build with an empty project, and with
the history the default retention keeps (``data_docs_keep`` results per suite), in the same run.

The batch is real: the 181 pages extracted and classified as the pipeline does it. The history is synthetic:
copies of the first batch's stored results and their Data Docs pages under other run names, which is what the
Data Docs index lists. Reports the median of the rounds for each project and the steady/empty ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import aeb_pages, table, write_result


def real_batch(now: datetime) -> Any:
    """The 181 pages as the pipeline turns them into a batch: extracted articles and their topic rows."""
    from newsflow.articles import build_outcome
    from newsflow.config import Settings, default_settings_dict
    from newsflow.models import Batch, FeedItem
    from newsflow.topics import classify_articles, make_classifier
    from newsflow.urls import canonical_url, stable_id

    settings = Settings(**default_settings_dict())
    outcomes = []
    for page in aeb_pages():
        url = f"https://news.example/p/{page.name}"
        item = FeedItem(
            item_id=stable_id("bench", url),
            feed="bench",
            guid=url,
            link=url,
            canonical_url=canonical_url(url),
            title=None,
            summary=None,
            content=None,
            author=None,
            published_at=now - timedelta(hours=1),
            entry_hash=stable_id("entry", url),
        )
        outcomes.append(build_outcome(item, url, 200, page.read_bytes(), settings.min_body_words))
    classifier = make_classifier()
    articles = [o.article for o in outcomes if o.article is not None]
    return Batch(polls=[], outcomes=outcomes, topics=classify_articles(articles, classifier)), classifier


def add_history(project: Any, runs: int) -> None:
    """Copy the project's only run (results and pages) to ``runs - 1`` more run names, per suite."""
    from newsflow.quality import SUITES

    stores = (project.gx_dir / "uncommitted" / "validations", project.data_docs_dir / "validations")
    for suite in SUITES:
        for store in stores:
            (first,) = (store / suite).iterdir()
            for n in range(runs - 1):
                shutil.copytree(first, store / suite / f"history-{n:04d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--history", type=int, default=0, help="results per suite (default: data_docs_keep)")
    args = parser.parse_args()

    from newsflow.config import Settings, default_settings_dict
    from newsflow.quality import ensure_project, validate_batch

    history = args.history or Settings(**default_settings_dict()).data_docs_keep
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    batch, classifier = real_batch(now)
    times: dict[str, list[float]] = {"empty": [], "steady": []}
    with tempfile.TemporaryDirectory() as tmp:
        projects = {name: ensure_project(Path(tmp) / name) for name in times}
        for project in projects.values():
            validate_batch(batch, project, run_id="first", now=now, topic_names=classifier.topics)
        add_history(projects["steady"], history)
        for r in range(args.rounds):
            order = list(times) if r % 2 == 0 else list(reversed(times))
            for name in order:
                t0 = time.perf_counter()
                validate_batch(
                    batch, projects[name], run_id=f"round-{r}", now=now, topic_names=classifier.topics
                )
                times[name].append(time.perf_counter() - t0)
    empty, steady = (statistics.median(times[n]) for n in ("empty", "steady"))
    articles = sum(1 for o in batch.outcomes if o.article is not None)
    result = {
        "articles": articles,
        "topic_rows": len(batch.topics),
        "history_results_per_suite": history,
        "validate_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "validate_empty_s": round(empty, 3),
        "validate_steady_s": round(steady, 3),
        "steady_over_empty": round(steady / empty, 2),
        "notes": "one batch's validate_batch (both suites, Data Docs pages and index); median of the rounds, "
        "the two projects alternating; the history is copies of a real run",
    }
    out = write_result("quality", result)
    print(
        table(
            [
                (f"validate {articles} articles, empty project (s)", f"{empty:.2f}", "", ""),
                (f"validate, {history} results per suite kept (s)", f"{steady:.2f}", "", ""),
                ("steady / empty", f"{steady / empty:.2f}", "", ""),
            ]
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
