"""Warehouse invariants, verified read-only: ``newsflow check [--warehouse PATH]``.

Each check is one query that returns the offending rows (none when sound): the ledger is accounted for,
no topic row or quarantine row points at nothing, no canonical URL or feed entry is stored twice, every
loaded or duplicate item has its article, every article has its story, and the schema is at the latest
packaged migration. The file is opened read-only, so the check is safe on the live warehouse (it waits
while a load holds the file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from newsflow.warehouse.db import WarehouseError, migrations
from newsflow.warehouse.store import Warehouse

MAX_DETAILS = 10  # offending rows shown per check; the count is always exact

# name -> (what must hold, a query returning one row per breach)
_QUERIES: dict[str, tuple[str, str]] = {
    "ledger": (
        "every item seen is accounted for (v_ledger_violations is empty)",
        "SELECT item_id, status, problem FROM v_ledger_violations ORDER BY ALL",
    ),
    "item_articles": (
        "every loaded or duplicate item names an article that exists",
        "SELECT i.item_id, i.status, i.article_id FROM items i "
        "WHERE i.status IN ('loaded', 'duplicate') "
        "AND (i.article_id IS NULL OR i.article_id NOT IN (SELECT article_id FROM articles)) ORDER BY ALL",
    ),
    "topic_orphans": (
        "every article_topics row belongs to an article",
        "SELECT t.article_id, t.topic, t.classifier_version FROM article_topics t "
        "ANTI JOIN articles a USING (article_id) ORDER BY ALL",
    ),
    "duplicate_canonical_urls": (
        "no canonical URL is stored as more than one article",
        "SELECT canonical_url, count(*) AS n, list(article_id ORDER BY article_id) FROM articles "
        "GROUP BY canonical_url HAVING count(*) > 1 ORDER BY ALL",
    ),
    "duplicate_feed_entries": (
        "no feed entry (feed, guid) is in the ledger under more than one item id",
        "SELECT feed, guid, count(*) AS n, list(item_id ORDER BY item_id) FROM items "
        "WHERE guid IS NOT NULL GROUP BY feed, guid HAVING count(*) > 1 ORDER BY ALL",
    ),
    "stories": (
        "every article belongs to a story, with the signature of its current body (articles loaded before "
        "stories existed get theirs from `newsflow recluster`)",
        "SELECT a.article_id, a.story_id, s.story_id AS assigned FROM articles a "
        "LEFT JOIN article_stories s USING (article_id) "
        "WHERE a.story_id IS NULL OR s.article_id IS NULL OR s.story_id <> a.story_id "
        "OR s.body_hash <> a.body_hash ORDER BY ALL",
    ),
    "quarantine_items": (
        "every quarantine row refers to an item in the ledger",
        "SELECT q.quarantine_id, q.item_id FROM quarantine q ANTI JOIN items i USING (item_id) ORDER BY ALL",
    ),
}


@dataclass(frozen=True)
class Check:
    """One invariant: whether it holds, and the offending rows (at most ``MAX_DETAILS``) if not."""

    name: str
    description: str
    ok: bool
    details: list[str] = field(default_factory=list)
    violations: int = 0


@dataclass
class CheckReport:
    """The result of :func:`check_warehouse`; ``ok`` only when every check holds."""

    path: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if there is none)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def format(self) -> str:
        """A readable report: one line per check, the offending rows under each failed one."""
        width = max((len(c.name) for c in self.checks), default=0)
        lines = [f"warehouse: {self.path}"]
        for c in self.checks:
            mark = "ok  " if c.ok else "FAIL"
            count = "" if c.ok or not c.violations else f" ({c.violations} violation(s))"
            lines.append(f"  {mark} {c.name:<{width}}  {c.description}{count}")
            lines += [f"         {d}" for d in c.details]
        failed = len(self.failed)
        lines.append(
            f"result: {f'{failed} of {len(self.checks)} checks FAILED' if failed else 'all invariants hold'}"
        )
        return "\n".join(lines)


def _show(row: Sequence[Any]) -> str:
    text = ", ".join("NULL" if v is None else str(v) for v in row)
    return text if len(text) <= 200 else text[:197] + "..."


def _query_check(wh: Warehouse, name: str, description: str, sql: str) -> Check:
    try:
        rows = wh.con.execute(sql).fetchall()
    except duckdb.Error as exc:
        return Check(name, description, ok=False, details=[f"cannot run the check: {exc}"], violations=1)
    details = [_show(r) for r in rows[:MAX_DETAILS]]
    if len(rows) > MAX_DETAILS:
        details.append(f"... and {len(rows) - MAX_DETAILS} more")
    return Check(name, description, ok=not rows, details=details, violations=len(rows))


def _schema_check(wh: Warehouse) -> Check:
    latest = migrations()[-1][0]
    description = f"schema is at the latest packaged migration (v{latest})"
    try:
        version = wh.schema_version()
        recorded = {r[0] for r in wh.con.execute("SELECT version FROM schema_migrations").fetchall()}
    except duckdb.Error as exc:
        return Check("schema_version", description, ok=False, details=[f"cannot read: {exc}"], violations=1)
    missing = sorted({v for v, _, _ in migrations()} - recorded)
    details = []
    if version < latest or missing:
        details.append(
            f"schema v{version}, migration(s) {', '.join(map(str, missing))} not applied: "
            "opening the warehouse read-write (newsflow run) applies them"
        )
    elif version > latest:
        details.append(f"schema v{version} is newer than this newsflow (v{latest}): upgrade newsflow")
    return Check("schema_version", description, ok=not details, details=details, violations=len(details))


def check_warehouse(path: Path, *, lock_timeout_s: float = 30.0) -> CheckReport:
    """Verify every invariant of the warehouse at ``path``, opened read-only (safe on the live file)."""
    report = CheckReport(Path(path))
    with Warehouse(path, read_only=True, lock_timeout_s=lock_timeout_s) as wh:
        report.checks = [_schema_check(wh)]
        report.checks += [_query_check(wh, name, desc, sql) for name, (desc, sql) in _QUERIES.items()]
    return report


def build_parser(prog: str = "newsflow check") -> argparse.ArgumentParser:
    """The argument parser of ``check`` (reusable as a subcommand)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Verify the warehouse invariants (read-only); exit 1 with a report if any is broken.",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="DuckDB file (default: $NEWSFLOW_HOME/warehouse.duckdb, or data/warehouse.duckdb)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``check`` with parsed arguments: 0 when every invariant holds, 1 when not, 2 if it cannot open."""
    from newsflow.config import default_warehouse

    path = args.warehouse or default_warehouse()
    try:
        report = check_warehouse(path)
    except (WarehouseError, duckdb.Error) as exc:
        print(f"newsflow check: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """``newsflow check [--warehouse PATH]`` as a function (the CLI mounts it)."""
    return run(build_parser().parse_args(argv))
