"""Adaptive per-feed poll intervals.

A healthy feed is polled about twice per typical gap between its entries, within the configured bounds,
and never sooner than the publisher asks (``ttl``, ``sy:updatePeriod``/``sy:updateFrequency``,
``Cache-Control: max-age``, ``Expires``). A failing feed backs off exponentially up to a cap and is
never dropped.
"""

from __future__ import annotations

import email.utils
import re
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from newsflow.config import FeedConfig, Settings

_SY_PERIOD_MIN = {"hourly": 60.0, "daily": 1440.0, "weekly": 10080.0, "monthly": 43200.0, "yearly": 525600.0}
_MAX_AGE_RE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def publisher_hint_min(
    feed_meta: Mapping[str, object], headers: Mapping[str, str], now: datetime
) -> float | None:
    """The shortest interval (minutes) the publisher asks for, or None if it says nothing."""
    hints: list[float] = []
    ttl = str(feed_meta.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        hints.append(float(ttl))
    period = str(feed_meta.get("sy_updateperiod") or "").strip().lower()
    if period in _SY_PERIOD_MIN:
        freq_text = str(feed_meta.get("sy_updatefrequency") or "1").strip()
        freq = int(freq_text) if freq_text.isdigit() and int(freq_text) > 0 else 1
        hints.append(_SY_PERIOD_MIN[period] / freq)
    cache = headers.get("cache-control", "")
    match = _MAX_AGE_RE.search(cache)
    if match:
        hints.append(int(match.group(1)) / 60.0)
    elif headers.get("expires"):
        try:
            expires = email.utils.parsedate_to_datetime(headers["expires"])
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            hints.append(max(0.0, (expires - now).total_seconds() / 60.0))
        except (TypeError, ValueError, IndexError):
            pass
    return max(hints) if hints else None


def bounds(feed: FeedConfig, settings: Settings) -> tuple[float, float]:
    """(min, max) poll interval in minutes for a feed."""
    low = feed.min_interval_min or settings.poll_interval_min_min
    high = feed.max_interval_min or settings.poll_interval_max_min
    return low, max(low, high)


def healthy_interval(
    *,
    previous_min: float | None,
    new_items: int,
    published: Sequence[datetime],
    hint_min: float | None,
    feed: FeedConfig,
    settings: Settings,
) -> float:
    """Interval (minutes) after a successful poll."""
    low, high = bounds(feed, settings)
    current = previous_min or settings.poll_interval_default_min
    recent = sorted(published, reverse=True)[:20]
    if len(recent) >= 3:
        gaps = [(a - b).total_seconds() / 60.0 for a, b in zip(recent, recent[1:], strict=False)]
        positive = [g for g in gaps if g > 0]
        target = float(statistics.median(positive)) / 2 if positive else current
    elif new_items:
        target = current * 0.75
    else:
        target = current * 1.5
    interval = min(max(target, low), high)
    if hint_min is not None:
        interval = max(interval, min(hint_min, settings.poll_interval_max_min))
    return round(interval, 2)


def failure_interval(
    failures: int, retry_after_s: float | None, feed: FeedConfig, settings: Settings
) -> float:
    """Exponential backoff (minutes) after ``failures`` consecutive failures, capped, never dropped."""
    low, _ = bounds(feed, settings)
    base = max(low, settings.poll_interval_min_min)
    interval: float = min(base * 2.0 ** max(0, failures - 1), settings.failure_backoff_max_min)
    if retry_after_s is not None:
        interval = max(interval, min(retry_after_s, settings.max_retry_after_s) / 60.0)
    return round(interval, 2)


def next_poll(now: datetime, interval_min: float) -> datetime:
    return now + timedelta(minutes=interval_min)


def is_due(next_poll_at: datetime | None, now: datetime) -> bool:
    return next_poll_at is None or next_poll_at <= now
