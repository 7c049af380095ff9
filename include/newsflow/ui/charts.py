"""The pages' charts as inline SVG (no script, nothing from another host): the pass-rate trend and the
articles per day and topic."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from newsflow.models import ValidationRun
from newsflow.ui.formatting import fmt_ts
from newsflow.ui.pages import NO_TOPIC, WarehouseReport

PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626")
GREY = "#9ca3af"
"""The colour of articles without a topic."""


def _nice_max(value: float) -> int:
    """The axis top for ``value``: the next 1, 2, 2.5 or 5 times a power of ten (at least 5)."""
    if value <= 5:
        return 5
    magnitude = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return int(math.ceil(top))
    return int(math.ceil(value))


def pass_rate_chart(runs: Sequence[ValidationRun], *, width: int = 760, height: int = 240) -> Markup:
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

    def x_of(r: ValidationRun) -> float:
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
                f"{r.suite} · {r.run_id} · {fmt_ts(r.validated_at)}: {r.rows_passed}/{r.rows_evaluated} "
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
        f'<text x="{pad_l}" y="{pad_t + plot_h + 16}" class="axis">{escape(fmt_ts(first))}</text>'
        f'<text x="{width - pad_r}" y="{pad_t + plot_h + 16}" text-anchor="end" class="axis">'
        f"{escape(fmt_ts(last))}</text>"
    )
    lx = pad_l + len(suites) * 170
    parts.append(
        f'<circle cx="{lx + 6}" cy="{height - 10}" r="5" fill="#dc2626"/>'
        f'<text x="{lx + 16}" y="{height - 6}" class="legend">run with failing rows</text>'
    )
    return Markup("".join(parts) + "</svg>")


def topic_colors(topics: Sequence[str]) -> dict[str, str]:
    """One palette colour per topic, in order; grey for articles without a topic."""
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
