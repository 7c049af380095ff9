"""URL normalisation and stable identifiers.

Canonical URLs come from courlan (tracking parameters such as ``utm_*`` dropped, fragment dropped, host
lower-cased, query sorted); the article id is a hash of that canonical URL, so it is stable across runs,
feeds and machines.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from courlan import normalize_url

ALLOWED_SCHEMES = frozenset({"http", "https"})


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ALLOWED_SCHEMES and bool(parts.hostname)


def canonical_url(url: str) -> str:
    """Normalise ``url`` for deduplication; raises ``ValueError`` for anything but absolute http(s)."""
    url = url.strip()
    if not is_http_url(url):
        raise ValueError(f"not an absolute http(s) URL: {url[:200]!r}")
    # courlan HTML-unescapes the whole URL, turning "&sect=1" into "§=1": escape every "&" so that its
    # unescaping gives the URL back unchanged (a double-escaped "&amp;" from a feed still becomes "&").
    escaped = url.replace("&amp;", "&").replace("&", "&amp;")
    normalized = normalize_url(escaped, strict=False, trailing_slash=True)
    parts = urlsplit(normalized)
    # courlan keeps an explicit default port; drop it so http://x:80/ and http://x/ are one article.
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (
        parts.scheme == "https" and netloc.endswith(":443")
    ):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def stable_id(*parts: str, length: int = 16) -> str:
    """A short hex digest of ``parts`` (joined with a separator that cannot occur in URLs)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def article_id(canonical: str) -> str:
    """The stable article id: a hash of the canonical URL."""
    return stable_id(canonical)


def host_key(url: str) -> str:
    """``host`` or ``host:port`` (port only when not the scheme's default), lower-cased."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = 443 if parts.scheme.lower() == "https" else 80
    if port and port != default:
        return f"{host}:{port}"
    return host


def host_of(url: str | None) -> str:
    """:func:`host_key` of ``url``, or "" when there is none to take (no URL, a malformed port): such a URL
    fails with its own reason when it is fetched."""
    try:
        return host_key(url) if url else ""
    except ValueError:
        return ""


def same_site(a: str, b: str) -> bool:
    """True when two URLs share a host (ignoring a leading ``www.``)."""

    def bare(u: str) -> str:
        h = (urlsplit(u).hostname or "").lower()
        return h[4:] if h.startswith("www.") else h

    return bare(a) == bare(b) and bare(a) != ""
