"""The network: a polite, bounded HTTP client, the SSRF guard and robots.txt."""

from newsflow.net.fetcher import BACKOFF_CODES, Fetcher, FetchError, Response, parse_retry_after
from newsflow.net.guard import BlockedURL, NetGuard, is_public_address
from newsflow.net.robots import RobotsPolicy, policy_for

__all__ = [
    "BACKOFF_CODES",
    "BlockedURL",
    "FetchError",
    "Fetcher",
    "NetGuard",
    "Response",
    "RobotsPolicy",
    "is_public_address",
    "parse_retry_after",
    "policy_for",
]
