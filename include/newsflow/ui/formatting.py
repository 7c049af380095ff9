"""Text formatting shared by the pages, their charts and their templates (the Jinja filters)."""

from __future__ import annotations

from datetime import UTC, datetime


def fmt_ts(value: datetime | None) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM UTC`` (empty for None)."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def pct(value: float | None) -> str:
    """A share as a percentage: whole at 0 and 1, one decimal between (a dash for None)."""
    return "–" if value is None else f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
