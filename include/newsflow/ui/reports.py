"""Read-only reports on the warehouse, rendered as self-contained HTML for the Airflow UI plugin.

Three pages: **Data Quality** (recent validation runs with pass/fail and counts, the pass-rate trend, the top
quarantine reasons with example rows, a link to each run's GX Data Docs), **Warehouse** (articles per day per
topic, top feeds and domains, feed health with failing feeds first) and a **run report** (the validation
runs and quarantined rows of one Airflow DAG run).

Everything reads the analysts' published snapshot (:func:`newsflow.warehouse.store.open_for_reading`),
never the live file, so a page never blocks or waits for a load. Pages are rendered on the server with Jinja2
(``templates/``, autoescaped); charts are inline SVG built here. No page loads a script, and no page refers
to another host: article URLs are shown as text, not links.

Which validation runs belong to a DAG run (see :func:`staging_names`): the pipeline names each validation run
after the staging folder of the ingest run it validated
(``newsflow.run.stages.run_dir(home, run_id).name``). A
``news_ingest`` run maps to its own folder; a ``news_curate`` run to the folders its ``validate`` task
took (the ``runs`` of that task's return value, which the plugin reads from XCom).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from newsflow.quality.datadocs import docs_url_path
from newsflow.warehouse.store import Warehouse, open_for_reading

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
INGEST_DAG = "news_ingest"
CURATE_DAG = "news_curate"
VALIDATE_TASK = "validate"
QUALITY_SCHEMA_VERSION = 3
"""validation_runs and quarantine exist from this warehouse schema version on."""
NO_TOPIC = "(no topic)"
PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626")
GREY = "#9ca3af"
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)
"""The Content-Security-Policy for these pages: no script at all, nothing from another host."""

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


# ----------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Which file a report was read from and when it was published."""

    path: Path
    published_at: datetime


@dataclass(frozen=True)
class ValidationRunRow:
    run_id: str
    suite: str
    validated_at: datetime
    rows_evaluated: int
    rows_passed: int
    rows_failed: int
    per_expectation: dict[str, int]
    success: bool
    data_docs_path: str | None
    docs_page: str | None = None
    """The run's page below the Data Docs site (None: no page, or pruned)."""

    @property
    def pass_rate(self) -> float | None:
        return self.rows_passed / self.rows_evaluated if self.rows_evaluated else None

    @property
    def failing(self) -> list[tuple[str, int]]:
        """Expectations with unexpected rows, most first."""
        return sorted(((k, v) for k, v in self.per_expectation.items() if v), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class QuarantineExample:
    quarantine_id: str
    run_id: str | None
    quarantined_at: datetime
    item_id: str
    feed: str | None
    title: str | None
    url: str | None
    published_at: str | None
    value: str | None
    """The value of the column the expectation checks, when the name says which column that is."""


@dataclass(frozen=True)
class QuarantineReason:
    expectation: str
    explanation: str
    count: int
    last_seen: datetime | None
    examples: list[QuarantineExample] = field(default_factory=list)


@dataclass(frozen=True)
class QualityReport:
    snapshot: Snapshot
    runs: list[ValidationRunRow]
    """Most recent first."""
    trend: list[ValidationRunRow]
    """Oldest first, for the chart."""
    reasons: list[QuarantineReason]
    runs_total: int
    runs_failed: int
    rows_evaluated: int
    quarantined_total: int


@dataclass(frozen=True)
class FeedHealth:
    name: str
    url: str
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    polls_7d: int | None
    failures_7d: int | None
    articles: int

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0 or self.last_status in ("error", "deferred")


@dataclass(frozen=True)
class Ranked:
    name: str
    count: int
    last: datetime | None = None


@dataclass(frozen=True)
class WarehouseReport:
    snapshot: Snapshot
    articles: int
    items_by_status: dict[str, int]
    days: list[date]
    topics: list[str]
    per_day_topic: dict[tuple[date, str], int]
    top_feeds: list[Ranked]
    top_domains: list[Ranked]
    feeds: list[FeedHealth]
    ledger_violations: int


@dataclass(frozen=True)
class RunReport:
    snapshot: Snapshot | None
    dag_id: str
    dag_run_id: str
    staging_names: list[str]
    runs: list[ValidationRunRow]
    quarantined: list[tuple[QuarantineExample, list[str]]]


# ----------------------------------------------------------------------------------------------------
# Queries
# ----------------------------------------------------------------------------------------------------


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _open(warehouse: Path) -> tuple[Warehouse, Snapshot] | None:
    wh = open_for_reading(warehouse)
    if wh is None:
        return None
    published = datetime.fromtimestamp(wh.path.stat().st_mtime, UTC)
    return wh, Snapshot(wh.path, published)


def _has_quality(wh: Warehouse) -> bool:
    return wh.schema_version() >= QUALITY_SCHEMA_VERSION


_RUN_COLUMNS = (
    "run_id, suite, validated_at, rows_evaluated, rows_passed, rows_failed, per_expectation, success, "
    "data_docs_path"
)


def _run_rows(
    wh: Warehouse, home: Path, where: str, params: Sequence[Any], tail: str
) -> list[ValidationRunRow]:
    _, rows = wh.query(f"SELECT {_RUN_COLUMNS} FROM validation_runs {where} {tail}", params)
    out = []
    for r in rows:
        per = r[6] if isinstance(r[6], dict) else json.loads(r[6] or "{}")
        out.append(
            ValidationRunRow(
                run_id=r[0],
                suite=r[1],
                validated_at=_utc(r[2]) or datetime.min.replace(tzinfo=UTC),
                rows_evaluated=int(r[3]),
                rows_passed=int(r[4]),
                rows_failed=int(r[5]),
                per_expectation={str(k): int(v) for k, v in per.items()},
                success=bool(r[7]),
                data_docs_path=r[8],
                docs_page=docs_url_path(home, r[8]),
            )
        )
    return out


def _split_reason(reason: str) -> tuple[str, str]:
    """``"name: why"`` -> (name, why); topic reasons keep their ``topic X:`` prefix in the name."""
    head, sep, rest = reason.partition(": ")
    if head.startswith("topic ") and sep:
        name, sep2, why = rest.partition(": ")
        return (f"{head}: {name}", why) if sep2 else (head, rest)
    return (head, rest) if sep else (reason, "")


def _checked_value(expectation: str, record: Mapping[str, Any]) -> str | None:
    """The record's value of the column an expectation name starts with (``published_at_not_future``)."""
    name = expectation.rpartition(": ")[2]
    columns = sorted((k for k in record if name == k or name.startswith(k + "_")), key=len, reverse=True)
    if not columns:
        return None
    value = record.get(columns[0])
    if isinstance(value, str) and name.endswith(("_length", "_length_bounds")):
        return f"{len(value):,} characters"
    return _clip("null" if value is None else str(value), 200)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _example(row: Sequence[Any], expectation: str | None) -> QuarantineExample:
    quarantine_id, run_id, quarantined_at, item_id, record_json = row[:5]
    record: dict[str, Any] = {}
    if record_json:
        loaded = json.loads(record_json) if isinstance(record_json, str) else record_json
        record = loaded if isinstance(loaded, dict) else {}
    return QuarantineExample(
        quarantine_id=quarantine_id,
        run_id=run_id,
        quarantined_at=_utc(quarantined_at) or datetime.min.replace(tzinfo=UTC),
        item_id=item_id,
        feed=record.get("feed"),
        title=record.get("title"),
        url=record.get("url") or record.get("canonical_url"),
        published_at=None if record.get("published_at") is None else str(record["published_at"]),
        value=_checked_value(expectation, record) if expectation else None,
    )


def quality_report(
    warehouse: Path, home: Path, *, recent: int = 40, trend: int = 60, top_reasons: int = 8, examples: int = 3
) -> QualityReport | None:
    """The Data Quality page's data; None when there is no warehouse yet."""
    opened = _open(warehouse)
    if opened is None:
        return None
    wh, snapshot = opened
    with wh:
        if not _has_quality(wh):
            return QualityReport(snapshot, [], [], [], 0, 0, 0, 0)
        runs = _run_rows(wh, home, "", [recent], "ORDER BY validated_at DESC, suite LIMIT ?")
        trend_rows = _run_rows(
            wh,
            home,
            "WHERE run_id IN (SELECT run_id FROM validation_runs GROUP BY run_id "
            "ORDER BY max(validated_at) DESC LIMIT ?)",
            [trend],
            "ORDER BY validated_at, suite",
        )
        totals = wh.query(
            "SELECT count(*), count(*) FILTER (WHERE NOT success), COALESCE(sum(rows_evaluated), 0) "
            "FROM validation_runs"
        )[1][0]
        quarantined = wh.query("SELECT count(*) FROM quarantine")[1][0][0]
        _, reason_rows = wh.query(
            """
            SELECT reason, count(*) AS n, max(quarantined_at)
            FROM (SELECT unnest(reasons) AS reason, quarantined_at FROM quarantine)
            GROUP BY reason ORDER BY n DESC, reason LIMIT ?
            """,
            [top_reasons],
        )
        reasons = []
        for reason, n, last in reason_rows:
            _, ex_rows = wh.query(
                """
                SELECT quarantine_id, run_id, quarantined_at, item_id, record FROM quarantine
                WHERE list_contains(reasons, ?) ORDER BY quarantined_at DESC, quarantine_id LIMIT ?
                """,
                [reason, examples],
            )
            name, why = _split_reason(reason)
            reasons.append(
                QuarantineReason(name, why, int(n), _utc(last), [_example(r, name) for r in ex_rows])
            )
    return QualityReport(
        snapshot=snapshot,
        runs=runs,
        trend=trend_rows,
        reasons=reasons,
        runs_total=int(totals[0]),
        runs_failed=int(totals[1]),
        rows_evaluated=int(totals[2]),
        quarantined_total=int(quarantined),
    )


def warehouse_report(warehouse: Path, *, days: int = 30, top: int = 10) -> WarehouseReport | None:
    """The Warehouse page's data; None when there is no warehouse yet.

    Articles are counted per UTC day of publication (fetch time when the date is unknown), at most ``days``
    days up to the newest article's day; an article with several topics counts once per topic.
    """
    opened = _open(warehouse)
    if opened is None:
        return None
    wh, snapshot = opened
    with wh:
        articles = int(wh.query("SELECT count(*) FROM articles")[1][0][0])
        statuses = {str(s): int(n) for s, n in wh.query("SELECT status, count(*) FROM items GROUP BY 1")[1]}
        _, rows = wh.query(
            """
            WITH a AS (
                SELECT CAST(timezone('UTC', COALESCE(published_at, fetched_at)) AS DATE) AS day, topics
                FROM v_articles
            ), span AS (SELECT max(day) AS last FROM a)
            SELECT day, topic, count(*) FROM (
                SELECT day, unnest(CASE WHEN len(topics) = 0 THEN [?] ELSE topics END) AS topic
                FROM a, span WHERE day > span.last - CAST(? AS INTEGER)
            ) GROUP BY ALL ORDER BY ALL
            """,
            [NO_TOPIC, days],
        )
        per_day_topic = {(d, str(t)): int(n) for d, t, n in rows}
        span: list[date] = []
        if per_day_topic:
            first, last = min(d for d, _ in per_day_topic), max(d for d, _ in per_day_topic)
            span = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        topic_names = sorted({t for _, t in per_day_topic if t != NO_TOPIC})
        if any(t == NO_TOPIC for _, t in per_day_topic):
            topic_names.append(NO_TOPIC)
        top_feeds = [
            Ranked(str(f), int(n), _utc(last))
            for f, n, last in wh.query(
                "SELECT feed, count(*) AS n, max(published_at) FROM articles GROUP BY feed "
                "ORDER BY n DESC, feed LIMIT ?",
                [top],
            )[1]
        ]
        top_domains = [
            Ranked(str(d), int(n), _utc(last))
            for d, n, last in wh.query(
                r"""
                SELECT lower(regexp_extract(canonical_url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1))
                           AS domain, count(*) AS n, max(published_at)
                FROM articles GROUP BY domain ORDER BY n DESC, domain LIMIT ?
                """,
                [top],
            )[1]
        ]
        tables = wh.query("SELECT table_name FROM information_schema.tables")[1]
        health_join = (
            """LEFT JOIN (SELECT feed, sum(polls) AS polls, sum(failures) AS failures FROM feed_health
                          WHERE day > (SELECT max(day) FROM feed_health) - 7 GROUP BY feed) h
                      ON h.feed = f.name"""
            if ("feed_health",) in tables
            else "LEFT JOIN (SELECT NULL AS feed, NULL AS polls, NULL AS failures) h ON FALSE"
        )
        _, feed_rows = wh.query(
            f"""
            SELECT f.name, f.url, f.last_status, f.last_http_status, f.last_error, f.consecutive_failures,
                   f.last_polled_at, f.last_success_at, f.next_poll_at, h.polls, h.failures,
                   COALESCE(a.n, 0)
            FROM feeds f {health_join}
            LEFT JOIN (SELECT feed, count(*) AS n FROM articles GROUP BY feed) a ON a.feed = f.name
            ORDER BY (f.consecutive_failures > 0 OR f.last_status IN ('error', 'deferred')) DESC,
                     f.consecutive_failures DESC, f.last_success_at NULLS FIRST, f.name
            """
        )
        feeds = [
            FeedHealth(
                name=r[0],
                url=r[1],
                last_status=r[2],
                last_http_status=r[3],
                last_error=r[4],
                consecutive_failures=int(r[5] or 0),
                last_polled_at=_utc(r[6]),
                last_success_at=_utc(r[7]),
                next_poll_at=_utc(r[8]),
                polls_7d=None if r[9] is None else int(r[9]),
                failures_7d=None if r[10] is None else int(r[10]),
                articles=int(r[11]),
            )
            for r in feed_rows
        ]
        violations = int(wh.query("SELECT count(*) FROM v_ledger_violations")[1][0][0])
    return WarehouseReport(
        snapshot=snapshot,
        articles=articles,
        items_by_status=statuses,
        days=span,
        topics=topic_names,
        per_day_topic=per_day_topic,
        top_feeds=top_feeds,
        top_domains=top_domains,
        feeds=feeds,
        ledger_violations=violations,
    )


def staging_names(
    dag_id: str, dag_run_id: str, home: Path, validate_result: Mapping[str, Any] | None = None
) -> list[str]:
    """The validation run ids (staging folder names) that belong to one Airflow DAG run.

    ``news_ingest``: the run's own staging folder. ``news_curate``: the folders listed in its ``validate``
    task's return value (``{"runs": [folder paths], ...}``, read from XCom by the caller); none before that
    task ran. Any other DAG validates nothing.
    """
    from newsflow.run.stages import run_dir

    if dag_id == INGEST_DAG:
        return [run_dir(home, dag_run_id).name]
    if dag_id == CURATE_DAG and validate_result:
        runs = validate_result.get("runs") or []
        return sorted({Path(str(r)).name for r in runs if str(r)})
    return []


def run_report(
    warehouse: Path, home: Path, dag_id: str, dag_run_id: str, names: Sequence[str], *, max_rows: int = 100
) -> RunReport:
    """The validation runs and quarantined rows of the staging runs ``names`` (one DAG run's)."""
    opened = _open(warehouse)
    if opened is None or not names:
        return RunReport(opened[1] if opened else None, dag_id, dag_run_id, list(names), [], [])
    wh, snapshot = opened
    with wh:
        if not _has_quality(wh):
            return RunReport(snapshot, dag_id, dag_run_id, list(names), [], [])
        runs = _run_rows(
            wh, home, "WHERE list_contains(?, run_id)", [list(names)], "ORDER BY validated_at, suite"
        )
        _, rows = wh.query(
            """
            SELECT quarantine_id, run_id, quarantined_at, item_id, record, reasons FROM quarantine
            WHERE list_contains(?, run_id) ORDER BY quarantined_at, quarantine_id LIMIT ?
            """,
            [list(names), max_rows],
        )
        quarantined = []
        for r in rows:
            reasons = [str(x) for x in r[5]]
            first = _split_reason(reasons[0])[0] if reasons else None
            quarantined.append((_example(r, first), reasons))
    return RunReport(snapshot, dag_id, dag_run_id, list(names), runs, quarantined)


# ----------------------------------------------------------------------------------------------------
# Charts (inline SVG)
# ----------------------------------------------------------------------------------------------------


def _fmt_ts(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _nice_max(value: float) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return int(math.ceil(top))
    return int(math.ceil(value))


def pass_rate_chart(runs: Sequence[ValidationRunRow], *, width: int = 760, height: int = 240) -> Markup:
    """Pass rate (rows passed / evaluated) per validation run over time, one line per suite."""
    pad_l, pad_r, pad_t, pad_b = 48, 16, 16, 40
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    points = [r for r in runs if r.pass_rate is not None]
    parts = [
        f'<svg class="chart" data-chart="pass-rate" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        "<title>Pass rate per validation run</title>",
    ]
    for pct in (0, 25, 50, 75, 100):
        y = pad_t + plot_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{pct}%</text>'
        )
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="axis">'
            "no validation runs yet</text>"
        )
        return Markup("".join(parts) + "</svg>")
    order = sorted({(r.validated_at, r.run_id) for r in points})
    xs = {key: i for i, key in enumerate(order)}
    step = plot_w / max(len(order) - 1, 1)

    def x_of(r: ValidationRunRow) -> float:
        i = xs[(r.validated_at, r.run_id)]
        return pad_l + (i * step if len(order) > 1 else plot_w / 2)

    suites = sorted({r.suite for r in points})
    for n, suite in enumerate(suites):
        color = PALETTE[n % len(PALETTE)]
        series = [r for r in points if r.suite == suite]
        coords = [(x_of(r), pad_t + plot_h * (1 - (r.pass_rate or 0.0))) for r in series]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for r, (x, y) in zip(series, coords, strict=True):
            fill = color if r.success else "#dc2626"
            tip = escape(
                f"{r.suite} · {r.run_id} · {_fmt_ts(r.validated_at)}: {r.rows_passed}/{r.rows_evaluated} "
                f"rows passed ({(r.pass_rate or 0):.0%})"
            )
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{fill}" stroke="#fff" '
                f'stroke-width="1.5"><title>{tip}</title></circle>'
            )
        lx = pad_l + n * 170
        parts.append(
            f'<rect x="{lx}" y="{height - 16}" width="12" height="12" fill="{color}"/>'
            f'<text x="{lx + 16}" y="{height - 6}" class="legend">{escape(suite)}</text>'
        )
    first, last = order[0][0], order[-1][0]
    parts.append(
        f'<text x="{pad_l}" y="{pad_t + plot_h + 16}" class="axis">{escape(_fmt_ts(first))}</text>'
        f'<text x="{width - pad_r}" y="{pad_t + plot_h + 16}" text-anchor="end" class="axis">'
        f"{escape(_fmt_ts(last))}</text>"
    )
    lx = pad_l + len(suites) * 170
    parts.append(
        f'<circle cx="{lx + 6}" cy="{height - 10}" r="5" fill="#dc2626"/>'
        f'<text x="{lx + 16}" y="{height - 6}" class="legend">run with failing rows</text>'
    )
    return Markup("".join(parts) + "</svg>")


def topic_colors(topics: Sequence[str]) -> dict[str, str]:
    colors = {}
    for n, t in enumerate(t for t in topics if t != NO_TOPIC):
        colors[t] = PALETTE[n % len(PALETTE)]
    colors[NO_TOPIC] = GREY
    return colors


def articles_chart(report: WarehouseReport, *, width: int = 760, height: int = 260) -> Markup:
    """Stacked bars: articles per day, one colour per topic."""
    pad_l, pad_r, pad_t, pad_b = 40, 12, 12, 56
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    parts = [
        f'<svg class="chart" data-chart="articles-per-day" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        "<title>Articles per day and topic</title>",
    ]
    if not report.days:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="axis">no articles yet</text>'
        )
        return Markup("".join(parts) + "</svg>")
    colors = topic_colors(report.topics)
    totals = {d: sum(report.per_day_topic.get((d, t), 0) for t in report.topics) for d in report.days}
    top = _nice_max(max(totals.values(), default=0))
    for frac in (0, 0.5, 1):
        y = pad_t + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{top * frac:g}</text>'
        )
    slot = plot_w / len(report.days)
    bar_w = max(slot * 0.7, 2)
    for i, d in enumerate(report.days):
        x = pad_l + i * slot + (slot - bar_w) / 2
        y = pad_t + plot_h
        for t in report.topics:
            n = report.per_day_topic.get((d, t), 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            tip = escape(f"{d.isoformat()} · {t}: {n} article{'s' if n != 1 else ''}")
            parts.append(
                f'<rect class="seg" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colors[t]}"><title>{tip}</title></rect>'
            )
        if i % max(1, len(report.days) // 8) == 0 or i == len(report.days) - 1:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{pad_t + plot_h + 14}" text-anchor="middle" class="axis">'
                f"{d.strftime('%m-%d')}</text>"
            )
    lx = pad_l
    for t in report.topics:
        parts.append(
            f'<rect x="{lx}" y="{height - 18}" width="12" height="12" fill="{colors[t]}"/>'
            f'<text x="{lx + 16}" y="{height - 8}" class="legend">{escape(t)}</text>'
        )
        lx += 24 + 8 * len(t)
    return Markup("".join(parts) + "</svg>")


# ----------------------------------------------------------------------------------------------------
# Pages
# ----------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


_ENV.filters["ts"] = _fmt_ts
_ENV.filters["pct"] = _pct
_ENV.filters["clip"] = _clip


def _render(template: str, *, base: str, title: str, active: str, **context: Any) -> str:
    return _ENV.get_template(template).render(base=base.rstrip("/"), title=title, active=active, **context)


def render_quality(report: QualityReport | None, *, base: str) -> str:
    """The Data Quality page (``base``: the URL path the plugin app is mounted at)."""
    chart = pass_rate_chart(report.trend) if report else None
    return _render(
        "quality.html", base=base, title="Data Quality", active="quality", report=report, chart=chart
    )


def render_warehouse(report: WarehouseReport | None, *, base: str) -> str:
    """The Warehouse page."""
    chart = articles_chart(report) if report else None
    colors = topic_colors(report.topics) if report else {}
    return _render(
        "warehouse.html",
        base=base,
        title="Warehouse",
        active="warehouse",
        report=report,
        chart=chart,
        colors=colors,
    )


def render_run(report: RunReport, *, base: str) -> str:
    """The report of one DAG run (the DAG tab and the validate task's extra link)."""
    return _render("run.html", base=base, title=f"Run {report.dag_run_id}", active="run", report=report)


def render_dag(
    dag_id: str, entries: Sequence[tuple[str, str | None, datetime | None, RunReport]], *, base: str
) -> str:
    """The DAG tab: recent runs of ``dag_id`` (run id, state, start, report), newest first."""
    return _render(
        "dag.html", base=base, title=f"{dag_id}: quality by run", active="dag", dag_id=dag_id, entries=entries
    )


def render_message(title: str, message: str, *, base: str) -> str:
    """A plain page for errors and empty states."""
    return _render("message.html", base=base, title=title, active="", message=message)
