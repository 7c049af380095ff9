"""robots.txt for article pages (RFC 9309), one fetch per host and run, with Crawl-delay honoured."""

from __future__ import annotations

import logging
import threading
import weakref
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from newsflow.net.fetcher import BACKOFF_CODES, Fetcher, FetchError, parse_retry_after
from newsflow.urls import host_key

LOGGER = logging.getLogger(__name__)
_ALLOW_ALL = Protego.parse("")


class RobotsPolicy:
    """Answers "may we fetch this URL?" for the run's user agent."""

    def __init__(self, fetcher: Fetcher, agent: str = "newsflow") -> None:
        self._fetcher = fetcher
        self._agent = agent
        self._cache: dict[str, Protego | None] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    def _rules(self, url: str) -> Protego | None:
        """Parsed rules for the URL's origin; None means "disallow all" (robots.txt unreachable / 5xx)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            lock = self._host_locks.setdefault(origin, threading.Lock())
        with lock:
            if origin in self._cache:
                return self._cache[origin]
            rules: Protego | None
            try:
                resp = self._fetcher.get(urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")))
            except FetchError as exc:
                if exc.kind in ("blocked", "budget", "deferred"):  # no answer yet: decide nothing for it
                    raise
                LOGGER.info("robots.txt for %s unreachable (%s): treating as disallow", origin, exc.reason)
                rules = None
            else:
                wait = resp.header("retry-after")
                if resp.status in BACKOFF_CODES and parse_retry_after(wait) is not None:
                    # A pause, not "unreachable": not cached, the host's other items wait without an attempt
                    # (the fetcher now holds the pause); this item used one, as a page answering so would.
                    raise FetchError(
                        "http",
                        f"robots.txt answered HTTP {resp.status} with Retry-After: {wait} (a pause)",
                        retryable=True,
                        status=resp.status,
                    )
                if resp.status >= 500:
                    rules = None
                elif resp.status >= 400:
                    rules = _ALLOW_ALL
                else:
                    rules = Protego.parse(resp.body.decode("utf-8", errors="replace"))
                    delay = rules.crawl_delay(self._agent)
                    if delay:
                        capped = min(float(delay), self._fetcher.settings.max_crawl_delay_s)
                        self._fetcher.gate.set_min_delay(host_key(url), capped)
            self._cache[origin] = rules
            return rules

    def check(self, url: str) -> tuple[str, bool] | None:
        """None when allowed, else ``(reason, retryable)``: why the URL may not be fetched now."""
        rules = self._rules(url)
        if rules is None:
            return "robots.txt unreachable or server error: not fetching (RFC 9309)", True
        if not rules.can_fetch(url, self._agent):
            return "disallowed by robots.txt", False
        return None


_POLICIES: weakref.WeakKeyDictionary[Fetcher, RobotsPolicy] = weakref.WeakKeyDictionary()
_POLICIES_LOCK = threading.Lock()


def policy_for(fetcher: Fetcher) -> RobotsPolicy:
    """The robots policy shared by everything using ``fetcher`` (one robots.txt fetch per host and run)."""
    with _POLICIES_LOCK:
        policy = _POLICIES.get(fetcher)
        if policy is None:
            policy = _POLICIES[fetcher] = RobotsPolicy(fetcher)
        return policy
