"""A polite, bounded HTTP client.

Every request: the SSRF guard on each hop, http/https only, a bounded number of redirects, connect/read
timeouts plus a total deadline enforced while streaming, a maximum body size (on the decompressed bytes
too), a per-host minimum delay and concurrency limit, and ``Retry-After`` on 429/503 honoured for that
host. No request starts once the fetcher's ``fetch_budget_s`` has run out. Failures raise
:class:`FetchError` with a short machine-readable ``kind`` and a readable ``reason``.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from newsflow.config import Settings
from newsflow.models import HostPause
from newsflow.net.guard import BlockedURL, NetGuard
from newsflow.urls import host_key

LOGGER = logging.getLogger(__name__)
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
BACKOFF_CODES = frozenset({429, 503})


_REQUEST = threading.local()  # when the request this thread is making started, and its deadline


def _time_left(timeout: float | None) -> float | None:
    """``timeout`` shortened to the time left before the current request's total deadline."""
    deadline: float | None = getattr(_REQUEST, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("total deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the request's total deadline (headers included)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to the addresses the SSRF guard vetted: no second DNS lookup, so no rebinding."""

    def __init__(self, guard: NetGuard) -> None:
        self._guard = guard
        self._sync = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._guard.vetted_addresses(host, port)
        except BlockedURL as exc:
            raise httpcore.ConnectError(f"blocked: {exc.reason}") from exc
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._sync.connect_tcp(
                    address, port, _time_left(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream)
        raise error or httpcore.ConnectError(f"no address to connect to for {host}")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _decoder(encoding: str) -> Any:
    """A bounded zlib decompressor for the Content-Encoding we asked for (None: identity)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise FetchError("decoding", f"unsupported Content-Encoding {encoding!r}", retryable=False)


class FetchError(Exception):
    """A request that produced no usable response."""

    def __init__(self, kind: str, reason: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class Response:
    """A complete (size-bounded) HTTP response."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    wire_bytes: int
    elapsed_s: float
    redirects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class _HostSlot:
    semaphore: threading.BoundedSemaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_allowed: float = 0.0
    min_delay: float = 0.0


class HostGate:
    """Per-host politeness: at most N requests in flight and a minimum delay between request starts."""

    def __init__(self, min_delay_s: float, concurrency: int, max_wait_s: float) -> None:
        self._min_delay = min_delay_s
        self._concurrency = concurrency
        self._max_wait = max_wait_s
        self._slots: dict[str, _HostSlot] = {}
        self._lock = threading.Lock()

    def _slot(self, host: str) -> _HostSlot:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = _HostSlot(threading.BoundedSemaphore(self._concurrency), min_delay=self._min_delay)
                self._slots[host] = slot
            return slot

    def set_min_delay(self, host: str, seconds: float) -> None:
        """Raise the host's delay (robots.txt ``Crawl-delay``); never below the configured minimum."""
        slot = self._slot(host)
        with slot.lock:
            slot.min_delay = max(self._min_delay, seconds)

    def defer(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts for ``seconds`` (Retry-After)."""
        slot = self._slot(host)
        with slot.lock:
            slot.next_allowed = max(slot.next_allowed, time.monotonic() + seconds)

    def blocked_for(self, host: str) -> float:
        """Seconds until the host may be contacted again."""
        slot = self._slot(host)
        with slot.lock:
            return max(0.0, slot.next_allowed - time.monotonic())

    def acquire(self, host: str, not_after: float | None = None) -> _HostSlot:
        """Wait for a turn at ``host``; raise FetchError if the host is deferred past ``max_wait_s``, or
        (kind ``budget``) if the turn would start after ``not_after`` (a ``time.monotonic()`` value)."""
        slot = self._slot(host)
        slot.semaphore.acquire()
        try:
            with slot.lock:
                now = time.monotonic()
                wait = slot.next_allowed - now
                if wait > self._max_wait:
                    raise FetchError(
                        "deferred",
                        f"host {host} asked us to wait {wait:.0f} s (Retry-After); not waiting",
                        retryable=True,
                    )
                if not_after is not None and max(now, slot.next_allowed) > not_after:
                    reason = "the run's fetch budget ran out (fetch_budget_s)"
                    raise FetchError("budget", reason, retryable=True)
                slot.next_allowed = max(slot.next_allowed, time.monotonic()) + slot.min_delay
            if wait > 0:
                time.sleep(wait)
        except BaseException:
            slot.semaphore.release()
            raise
        return slot

    @staticmethod
    def release(slot: _HostSlot) -> None:
        slot.semaphore.release()


class Fetcher:
    """Bounded, polite GET requests. Thread-safe; share one per run."""

    def __init__(
        self,
        settings: Settings,
        guard: NetGuard,
        *,
        max_wait_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.not_after = time.monotonic() + settings.fetch_budget_s
        """No request starts after this ``time.monotonic()`` value (``fetch_budget_s`` from creation)."""
        self._pauses: dict[str, HostPause] = {}
        self._pauses_lock = threading.Lock()
        self.gate = HostGate(settings.per_host_min_delay_s, settings.per_host_concurrency, max_wait_s)
        timeout = httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.read_timeout_s,
            write=settings.read_timeout_s,
            pool=settings.total_timeout_s,
        )
        if transport is None:
            transport = httpx.HTTPTransport()
            transport._pool = httpcore.ConnectionPool(  # private: httpx has no network_backend argument
                max_connections=settings.concurrency * 2, network_backend=_GuardedBackend(guard)
            )
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": settings.full_user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=settings.concurrency * 2),
            transport=transport,
            trust_env=False,
        )

    def _record_pause(self, host: str, seconds: float, status: int, header: str) -> None:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        reason = f"HTTP {status} with Retry-After: {header.strip()[:100]}"
        with self._pauses_lock:
            known = self._pauses.get(host)
            if known is None or known.until < until:
                self._pauses[host] = HostPause(host, until, reason)

    def honour(self, pauses: Iterable[HostPause], now: datetime | None = None) -> None:
        """Pause the hosts that asked for it in earlier runs (``host_pauses``): a request to one of them, a
        redirect hop included, waits or fails with kind ``deferred``, until the pause ends."""
        now = now or datetime.now(UTC)
        for pause in pauses:
            left = (pause.until - now).total_seconds()
            if left > 0:
                self.gate.defer(pause.host, left)

    def pauses(self) -> list[HostPause]:
        """The pauses hosts asked for during this fetcher's requests (the latest end per host), for later
        runs to honour."""
        with self._pauses_lock:
            return sorted(self._pauses.values(), key=lambda p: p.host)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url`` following redirects (each hop guarded). Any HTTP status is returned, not raised.

        The total deadline (``total_timeout_s``, all hops together) starts when the first request starts,
        not while it waits for its turn at the host."""
        _REQUEST.deadline = None  # set by the first hop once it has its turn; bounds every read and write
        try:
            return self._follow(url, headers or {})
        finally:
            _REQUEST.deadline = None

    def _follow(self, url: str, headers: Mapping[str, str]) -> Response:
        hops: list[str] = []
        current = url
        seen = {url}
        while True:
            try:
                self.guard.check(current)
            except BlockedURL as exc:
                raise FetchError("blocked", exc.reason, retryable=False) from exc
            status, resp_headers, body, wire = self._one(current, headers)
            if status in REDIRECT_CODES and "location" in resp_headers:
                if len(hops) >= self.settings.max_redirects:
                    raise FetchError(
                        "redirects", f"more than {self.settings.max_redirects} redirects", retryable=False
                    )
                target = urljoin(current, resp_headers["location"].strip())
                if target in seen:
                    raise FetchError("redirects", f"redirect loop at {target}", retryable=False)
                seen.add(target)
                hops.append(current)
                current = target
                continue
            return Response(
                url=current,
                status=status,
                headers=resp_headers,
                body=body,
                wire_bytes=wire,
                elapsed_s=time.monotonic() - _REQUEST.started,
                redirects=tuple(hops),
            )

    def _one(self, url: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes, int]:
        host = host_key(url)
        slot = self.gate.acquire(host, self.not_after)
        if _REQUEST.deadline is None:  # the first hop: the request starts now
            _REQUEST.started = time.monotonic()
            _REQUEST.deadline = _REQUEST.started + self.settings.total_timeout_s
        deadline: float = _REQUEST.deadline
        limit = self.settings.max_response_bytes
        try:
            with self._client.stream("GET", url, headers=dict(headers)) as resp:
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status_code in BACKOFF_CODES:
                    delay = parse_retry_after(resp_headers.get("retry-after"))
                    if delay is not None:
                        delay = min(delay, self.settings.max_retry_after_s)
                        self.gate.defer(host, delay)
                        self._record_pause(host, delay, resp.status_code, resp_headers["retry-after"])
                declared = resp_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(
                        "too_large",
                        f"Content-Length {declared} exceeds limit of {limit} bytes",
                        retryable=False,
                    )
                chunks: list[bytes] = []
                size = 0
                decoder = _decoder(resp_headers.get("content-encoding", ""))
                for raw in resp.iter_raw():
                    pending = raw
                    while pending:
                        # never more than the room left (+1 to notice an overflow): a bomb stays small
                        chunk = decoder.decompress(pending, limit - size + 1) if decoder else pending
                        pending = decoder.unconsumed_tail if decoder else b""
                        size += len(chunk)
                        if size > limit:
                            raise FetchError(
                                "too_large",
                                f"body exceeds limit of {limit} bytes (after decompression)",
                                retryable=False,
                            )
                        chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise FetchError(
                            "timeout",
                            f"total deadline of {self.settings.total_timeout_s:g} s exceeded",
                            retryable=True,
                        )
                return resp.status_code, resp_headers, b"".join(chunks), resp.num_bytes_downloaded
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline:
                raise FetchError(
                    "timeout",
                    f"total deadline of {self.settings.total_timeout_s:g} s exceeded",
                    retryable=True,
                ) from exc
            raise FetchError(
                "timeout",
                f"{type(exc).__name__} after limits "
                f"(connect {self.settings.connect_timeout_s:g} s, "
                f"read {self.settings.read_timeout_s:g} s)",
                retryable=True,
            ) from exc
        except zlib.error as exc:
            raise FetchError("decoding", f"cannot decode body: {exc}", retryable=False) from exc
        except httpx.DecodingError as exc:
            raise FetchError("decoding", f"cannot decode body: {exc}", retryable=False) from exc
        except httpx.ConnectError as exc:
            if str(exc).startswith("blocked: "):  # the address looked up to connect is not public
                raise FetchError("blocked", str(exc)[9:], retryable=False) from exc
            raise FetchError("network", f"{type(exc).__name__}: {exc}", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise FetchError("network", f"{type(exc).__name__}: {exc}", retryable=True) from exc
        finally:
            self.gate.release(slot)
