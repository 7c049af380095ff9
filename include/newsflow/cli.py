"""Command line: ``newsflow run|demo|sql|feeds|status|check|reclassify|reextract|recluster|...``.

``python -m newsflow`` works the same.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from newsflow.warehouse import Warehouse

from newsflow.config import (
    DEFAULT_FEEDS_FILE,
    ConfigError,
    FeedsFile,
    default_warehouse,
    feeds_file_from_env,
    load_feeds_file,
)

SAMPLE_SITE_HOST = "127.0.0.1:8765"
"""Where the packaged feeds file expects the bundled sample site (``newsflow serve-sample``'s default)."""


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table") -> None:
    """Print query results as an aligned table, CSV or JSON (one object per row, in a list)."""
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=_json_default, indent=1))
    else:
        from tabulate import tabulate

        def cell(v: object) -> object:
            text = str(v) if v is not None else ""
            return text if len(text) <= 80 else text[:77] + "..."

        print(tabulate([[cell(v) for v in r] for r in rows], headers=list(columns), tablefmt="simple"))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def print_records(
    kind: type[DataclassInstance], records: Sequence[DataclassInstance], fmt: str = "table"
) -> None:
    """Print query records of the dataclass ``kind`` like :func:`print_rows`, a column per field."""
    columns = [f.name for f in fields(kind)]
    print_rows(columns, [tuple(getattr(r, c) for c in columns) for r in records], fmt)


def _reader_args(p: argparse.ArgumentParser, *, formats: bool = True) -> None:
    _warehouse_arg(p)
    if formats:
        p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--live",
        action="store_true",
        help="read the warehouse file itself (waits while a load holds it) instead of its published snapshot",
    )


def _warehouse_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="DuckDB file (default: $NEWSFLOW_HOME/warehouse.duckdb, or data/warehouse.duckdb)",
    )


def _reader(args: argparse.Namespace) -> Warehouse:
    """The published snapshot (never waits for a load), or with --live the warehouse file itself."""
    from newsflow.warehouse import WarehouseError, open_for_reading

    path = args.warehouse or default_warehouse()
    wh = open_for_reading(path, live=args.live)
    if wh is None:
        raise WarehouseError(f"{path}: no warehouse yet (run `newsflow run` first)")
    return wh


def cmd_run(args: argparse.Namespace) -> int:
    from newsflow.run import run_cycle

    config = load_feeds_file(args.feeds)
    warehouse = args.warehouse or default_warehouse()
    t0 = time.monotonic()
    summary = run_cycle(
        config, warehouse, feed_names=args.feed or None, max_items=args.max_items, force=args.force
    )
    print("\n".join(summary.lines()))
    print(f"warehouse: {warehouse}  ({time.monotonic() - t0:.1f} s)")
    return _gate_verdict(summary.quarantine_share, config.settings.max_quarantine_share)


def _gate_verdict(share: float, max_share: float) -> int:
    """Exit status after a load: 1 when too large a share of the batch failed validation."""
    if share > max_share:
        print(
            f"newsflow: {share:.0%} of the batch failed validation (threshold {max_share:.0%}): "
            "the rows are in the quarantine table, the rest loaded",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_quality_setup(args: argparse.Namespace) -> int:
    """Create (or update) the Great Expectations project once, before tasks run it in parallel."""
    from newsflow.config import data_home
    from newsflow.quality import GXProject, quality_root

    project = GXProject(quality_root(data_home()))
    project.root.mkdir(parents=True, exist_ok=True)
    project.setup()
    print(f"GX project ready in {project.gx_dir}; Data Docs in {project.data_docs_dir}")
    return 0


def sample_feeds(port: int) -> FeedsFile:
    """The packaged feeds file, pointed at the sample site on ``port`` (the file names the default port)."""
    config = load_feeds_file(DEFAULT_FEEDS_FILE)
    here = f"127.0.0.1:{port}"
    if here == SAMPLE_SITE_HOST:
        return config
    feeds = tuple(
        f.model_copy(update={"url": f.url.replace(f"//{SAMPLE_SITE_HOST}/", f"//{here}/", 1)})
        for f in config.feeds
    )
    allowed = tuple(here if h == SAMPLE_SITE_HOST else h for h in config.allow_hosts)
    return config.model_copy(update={"feeds": feeds, "allow_hosts": allowed})


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve the bundled sample site on loopback, run one cycle on the packaged feeds, show the result."""
    from newsflow.run import run_cycle
    from newsflow.sample import StaticSite
    from newsflow.warehouse import Warehouse, queries

    warehouse = args.warehouse or default_warehouse()
    try:
        site = StaticSite(port=args.port)
    except OSError as exc:
        print(f"cannot start the sample site on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2
    with site:
        print(f"sample site: {site.base_url} (bundled, loopback only)")
        t0 = time.monotonic()
        summary = run_cycle(sample_feeds(site.port), warehouse, force=True)
        print("\n".join(summary.lines()))
    with Warehouse(warehouse, read_only=True) as wh:
        print_records(queries.ArticleLine, queries.latest_articles(wh))
        violations = wh.ledger_violations()
    print(f"ledger: {'every item accounted for' if not violations else f'{len(violations)} VIOLATIONS'}")
    print(f"warehouse: {warehouse}  ({time.monotonic() - t0:.1f} s)")
    print(f'try: newsflow sql --warehouse {warehouse} "SELECT title, url FROM v_articles"')
    return 1 if violations else 0


def cmd_sql(args: argparse.Namespace) -> int:
    with _reader(args) as wh:
        cols, rows = wh.query(args.query)
    print_rows(cols, rows, args.format)
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from newsflow.warehouse import queries

    with _reader(args) as wh:
        statuses = queries.feed_statuses(wh)
    print_records(queries.FeedStatus, statuses, args.format)
    return 0


def last_loaded_run(home: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(manifest, load counts) of the most recently loaded staging run, if any."""
    from newsflow.run import loaded_runs

    runs = [r for r in loaded_runs(home) if r.is_complete]
    return (runs[-1].manifest(), runs[-1].loaded()) if runs else None


def cmd_status(args: argparse.Namespace) -> int:
    """What the warehouse holds, whether the ledger is sound, and where things are."""
    from newsflow.config import data_home
    from newsflow.run import staging_root
    from newsflow.warehouse import queries, snapshot_path

    path = args.warehouse or default_warehouse()
    with _reader(args) as wh:
        feeds = queries.feed_counts(wh)
        items = queries.items_by_status(wh)
        articles = queries.article_counts(wh)
        topics = queries.topic_counts(wh)
        version = wh.schema_version()
        violations = wh.ledger_violations()
        pauses = [p for p in wh.host_pauses() if p.until > datetime.now(UTC)]
    print(f"warehouse: {path} (schema v{version}); analysts' snapshot: {snapshot_path(path)}")
    print(f"feeds:     {feeds.known} known, {feeds.failing} failing, last poll {feeds.last_poll}")
    print("items:     " + (", ".join(f"{n} {status}" for status, n in items.items()) or "none yet"))
    print(
        f"articles:  {articles.articles} ({articles.from_feed_text} from feed text), "
        f"last change {articles.last_change}"
    )
    print("topics:    " + (", ".join(f"{n} {t}" for t, n in topics.items()) or "none assigned"))
    print(f"ledger:    {'every item accounted for' if not violations else f'{len(violations)} VIOLATIONS'}")
    for p in pauses:  # a host that asked for a pause: none of its feeds or pages is requested till then
        print(f"paused:    {p.host} until {p.until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({p.reason})")
    home = data_home()  # raw HTML and Airflow's staging, wherever --warehouse puts the DuckDB file
    last = last_loaded_run(home)
    if last is not None:
        m, done = last
        print(
            f"last run:  {m['run_id']} (Airflow): "
            f"feeds {m['feeds_polled']} polled, {m['feeds_failed']} failed; "
            f"items {m['items_seen']} seen, {done['items_new']} new, {done['duplicate']} duplicate, "
            f"{done['failed']} failed; "
            f"articles {done['articles_inserted']} loaded, {done['articles_updated']} updated"
        )
    print(f"data:      raw HTML in {home / 'raw'}, staging in {staging_root(home)}")
    return 1 if violations else 0


def cmd_reclassify(args: argparse.Namespace) -> int:
    """Re-score with ``--taxonomy``, else the taxonomy of the feeds file (``--feeds``, else the one the DAGs
    use: ``$NEWSFLOW_FEEDS`` or the packaged default), so the CLI and ``news_reclassify`` agree."""
    from newsflow.run import reclassify

    taxonomy = args.taxonomy
    if taxonomy is None:
        feeds = args.feeds or feeds_file_from_env()
        taxonomy = load_feeds_file(feeds).taxonomy
        print(f"taxonomy: {taxonomy or 'the packaged default'} (from {feeds})")
    summary = reclassify(args.warehouse or default_warehouse(), taxonomy)
    print(
        f"classifier {summary.classifier_version}: {summary.articles} articles, "
        f"{summary.rows_written} topic rows written, {summary.rows_removed} rows of other versions removed"
    )
    return 0


def _since(value: str) -> datetime:
    """``--since``: an ISO date or date-time (UTC unless it names its zone)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_reextract(args: argparse.Namespace) -> int:
    """Re-extract stored articles from their raw HTML with the current extractor (the feeds file gives the
    settings and the taxonomy: ``--feeds``, else ``$NEWSFLOW_FEEDS`` or the packaged default)."""
    from newsflow.run import reextract_articles

    config = load_feeds_file(args.feeds or feeds_file_from_env())
    warehouse = args.warehouse or default_warehouse()
    t0 = time.monotonic()
    summary = reextract_articles(config, warehouse, since=args.since, feed=args.feed)
    print("\n".join(summary.lines()))
    shown = None if args.list else 10
    for title, listed, total in (
        ("kept as stored", summary.kept_list, summary.kept),
        ("no raw HTML", summary.no_raw_html_list, summary.no_raw_html),
    ):
        if listed:
            print(f"{title}:")
            for row in listed[:shown]:
                print(f"  {row['article_id']}  {row['fetched_at'][:19]}  {row['url']}  ({row['why']})")
            if total > len(listed[:shown]):
                more = "" if args.list else " (--list shows up to 1,000)"
                print(f"  ... and {total - len(listed[:shown])} more{more}")
    print(f"warehouse: {warehouse}  ({time.monotonic() - t0:.1f} s)")
    return 0


def cmd_recluster(args: argparse.Namespace) -> int:
    """Rebuild the stories with the story thresholds of the feeds file (``--feeds``, else
    ``$NEWSFLOW_FEEDS`` or the packaged default), as ``news_recluster`` does."""
    from newsflow.run import recluster

    settings = load_feeds_file(args.feeds or feeds_file_from_env()).settings
    summary = recluster(args.warehouse or default_warehouse(), settings)
    print(
        f"stories rebuilt: {summary.articles} articles in {summary.stories} stories "
        f"({summary.copies} copies of another story's first article); thresholds: containment >= "
        f"{settings.story_min_containment}, Jaccard >= {settings.story_min_jaccard}, or lead Jaccard >= "
        f"{settings.story_min_lead_jaccard}; window {settings.story_window_days:g} days"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from newsflow.warehouse.checks import run

    return run(args)


def cmd_eval_topics(args: argparse.Namespace) -> int:
    from newsflow.topics import run_eval_topics

    return run_eval_topics(args)


def cmd_serve_sample(args: argparse.Namespace) -> int:
    from newsflow.sample import StaticSite

    with StaticSite(port=args.port, host=args.host) as site:
        print(f"serving the sample site at {site.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsflow", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="one full cycle on the feeds in a YAML file, outside Airflow")
    p.add_argument("--feeds", type=Path, required=True, help="feeds YAML file")
    _warehouse_arg(p)
    p.add_argument("--feed", action="append", help="only this feed (repeatable); polls it even if not due")
    p.add_argument("--max-items", type=int, default=None, help="cap on items taken per feed")
    p.add_argument("--force", action="store_true", help="poll every feed now, ignoring its schedule")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="serve the bundled sample site and run one cycle on it")
    _warehouse_arg(p)
    p.add_argument(
        "--port",
        type=int,
        default=8765,
        help="the sample site's port (0: any free one); it is part of the stories' URLs, so use another "
        "--warehouse than the default port's runs",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sql", help="read-only ad-hoc SQL against the warehouse")
    _reader_args(p)
    p.add_argument("query")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("feeds", help="feed health: last status, last success, failures, next poll")
    _reader_args(p)
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("status", help="what the warehouse holds, and whether every item is accounted for")
    _reader_args(p, formats=False)
    p.set_defaults(func=cmd_status)

    from newsflow.warehouse.checks import build_parser as check_parser

    p = sub.add_parser(
        "check", parents=[check_parser()], add_help=False, help="verify the warehouse invariants (read-only)"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("quality-setup", help="set up the Great Expectations project once (idempotent)")
    p.set_defaults(func=cmd_quality_setup)

    p = sub.add_parser(
        "reclassify", help="re-score stored articles with the feeds file's or a given taxonomy (no refetch)"
    )
    _warehouse_arg(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML")
    which.add_argument(
        "--feeds",
        type=Path,
        default=None,
        help="use this feeds file's taxonomy (default: $NEWSFLOW_FEEDS, or the packaged feeds file)",
    )
    p.set_defaults(func=cmd_reclassify)

    p = sub.add_parser(
        "reextract",
        help="re-extract stored articles from their kept raw HTML with the current extractor (no refetch)",
    )
    _warehouse_arg(p)
    p.add_argument("--feeds", type=Path, default=None, help="feeds file for settings and taxonomy")
    p.add_argument("--since", type=_since, default=None, help="only articles fetched at or after this date")
    p.add_argument("--feed", default=None, help="only the articles this feed first brought")
    p.add_argument("--list", action="store_true", help="list every article kept or without raw HTML")
    p.set_defaults(func=cmd_reextract)

    p = sub.add_parser(
        "recluster", help="rebuild every story with the feeds file's story thresholds (no refetch)"
    )
    _warehouse_arg(p)
    p.add_argument("--feeds", type=Path, default=None, help="feeds file for the story settings")
    p.set_defaults(func=cmd_recluster)

    from newsflow.topics import eval_topics_parser

    p = sub.add_parser(
        "eval-topics",
        parents=[eval_topics_parser()],
        add_help=False,
        help="score the classifier on a labelled JSONL file",
    )
    p.set_defaults(func=cmd_eval_topics)

    p = sub.add_parser("serve-sample", help="serve the bundled sample site on loopback until Ctrl-C")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on and to write into links")
    p.set_defaults(func=cmd_serve_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except BrokenPipeError:  # the reader went away (`newsflow sql ... | head`): stop quietly
        # Python's own flush of stdout at exit would fail again and print a traceback: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ConfigError as exc:
        print(f"newsflow: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        import duckdb

        from newsflow.warehouse import WarehouseError

        if isinstance(exc, WarehouseError | duckdb.Error):
            print(f"newsflow: {exc}", file=sys.stderr)
            return 1
        raise
