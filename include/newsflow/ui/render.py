"""The pages as self-contained HTML: Jinja2 templates (``templates/``, autoescaped) and the policy they are
served under, which allows no script and no other host (article URLs are shown as text, not links)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from newsflow.ui.charts import articles_chart, pass_rate_chart, topic_colors
from newsflow.ui.formatting import clip, fmt_ts, pct
from newsflow.ui.pages import STORY_DAYS, QualityReport, RunReport, WarehouseReport

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
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
_ENV.filters["ts"] = fmt_ts
_ENV.filters["pct"] = pct
_ENV.filters["clip"] = clip


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
        story_days=STORY_DAYS,
    )


def render_run(report: RunReport, *, base: str, awaiting: bool = False) -> str:
    """The report of one DAG run (the DAG tab and the validate task's extra link); ``awaiting``: the run
    has not named the staging runs it validates yet."""
    return _render(
        "run.html",
        base=base,
        title=f"Run {report.dag_run_id}",
        active="run",
        report=report,
        awaiting=awaiting,
    )


def render_dag(
    dag_id: str,
    entries: Sequence[tuple[str, str | None, datetime | None, RunReport]],
    *,
    base: str,
    validates: bool,
) -> str:
    """The DAG tab: recent runs of ``dag_id`` (run id, state, start, report), newest first; ``validates``:
    whether this DAG's runs validate data at all."""
    return _render(
        "dag.html",
        base=base,
        title=f"{dag_id}: quality by run",
        active="dag",
        dag_id=dag_id,
        entries=entries,
        validates=validates,
    )


def render_message(title: str, message: str, *, base: str) -> str:
    """A plain page for errors and empty states."""
    return _render("message.html", base=base, title=title, active="", message=message)
