from datetime import UTC, datetime, timedelta

from newsflow.config import FeedConfig, load_feeds_file
from newsflow.feeds import failure_interval, healthy_interval, publisher_hint_min

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SETTINGS = load_feeds_file().settings  # min 5, default 15, max 360, backoff cap 1440 minutes
FEED = FeedConfig(name="f", url="https://example.org/rss")


def test_publisher_hints() -> None:
    assert publisher_hint_min({"ttl": "60"}, {}, NOW) == 60
    assert publisher_hint_min({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}, {}, NOW) == 30
    assert publisher_hint_min({"sy_updateperiod": "daily"}, {}, NOW) == 1440
    assert publisher_hint_min({}, {"cache-control": "public, max-age=600"}, NOW) == 10
    expires = "Fri, 27 Nov 2026 12:45:00 GMT"
    assert publisher_hint_min({}, {"expires": expires}, NOW) == 45
    assert publisher_hint_min({"ttl": "10"}, {"cache-control": "max-age=1200"}, NOW) == 20  # the longest wins
    assert publisher_hint_min({"ttl": "soon"}, {"expires": "garbage"}, NOW) is None


def test_interval_follows_publishing_rate_within_bounds() -> None:
    every_hour = [NOW - timedelta(hours=h) for h in range(10)]
    assert (
        healthy_interval(
            previous_min=15, new_items=10, published=every_hour, hint_min=None, feed=FEED, settings=SETTINGS
        )
        == 30
    )
    every_minute = [NOW - timedelta(minutes=m) for m in range(10)]
    assert (
        healthy_interval(
            previous_min=15, new_items=10, published=every_minute, hint_min=None, feed=FEED, settings=SETTINGS
        )
        == SETTINGS.poll_interval_min_min
    )
    weekly = [NOW - timedelta(days=7 * w) for w in range(5)]
    assert (
        healthy_interval(
            previous_min=15, new_items=0, published=weekly, hint_min=None, feed=FEED, settings=SETTINGS
        )
        == SETTINGS.poll_interval_max_min
    )


def test_interval_without_dates_adapts_and_honours_hints() -> None:
    quiet = healthy_interval(
        previous_min=20, new_items=0, published=[], hint_min=None, feed=FEED, settings=SETTINGS
    )
    busy = healthy_interval(
        previous_min=20, new_items=5, published=[], hint_min=None, feed=FEED, settings=SETTINGS
    )
    assert busy < 20 < quiet
    hinted = healthy_interval(
        previous_min=20, new_items=5, published=[], hint_min=120, feed=FEED, settings=SETTINGS
    )
    assert hinted == 120
    own = FeedConfig(name="g", url="https://example.org/rss", min_interval_min=60)
    assert (
        healthy_interval(
            previous_min=20, new_items=5, published=[], hint_min=None, feed=own, settings=SETTINGS
        )
        == 60
    )


def test_failure_backoff_is_exponential_and_capped() -> None:
    steps = [failure_interval(n, None, FEED, SETTINGS) for n in range(1, 12)]
    assert steps[:4] == [5, 10, 20, 40]
    assert max(steps) == SETTINGS.failure_backoff_max_min == steps[-1]
    assert failure_interval(1, 1800, FEED, SETTINGS) == 30  # Retry-After longer than the backoff wins
    assert failure_interval(1, 86400, FEED, SETTINGS) == 60  # ... capped by max_retry_after_s
