"""Feeds: polling (conditional GET, tolerant parsing, item records) and each feed's adaptive schedule."""

from newsflow.feeds.poll import FeedParseError, parse_feed, poll_feed
from newsflow.feeds.schedule import failure_interval, healthy_interval, is_due, next_poll, publisher_hint_min

__all__ = [
    "FeedParseError",
    "failure_interval",
    "healthy_interval",
    "is_due",
    "next_poll",
    "parse_feed",
    "poll_feed",
    "publisher_hint_min",
]
