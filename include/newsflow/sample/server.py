"""A small static HTTP server on loopback for the bundled sample site (and for tests).

``{{BASE_URL}}`` in served files becomes the server's own base URL. Responses carry ``ETag`` and
``Last-Modified`` and honour conditional requests, like a real publisher's server.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

SAMPLE_SITE = Path(__file__).resolve().parent / "site"
PLACEHOLDER = b"{{BASE_URL}}"
_TYPES = {
    ".xml": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_STARTED = email.utils.formatdate(usegmt=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = unquote(urlsplit(self.path).path)
        target = (self.server.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.server.root) or not target.is_file():
            self._send(404, b"not found", "text/plain")
            return
        body = target.read_bytes().replace(PLACEHOLDER, self.server.base_url.encode())
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        self.server.count(path)
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", None, etag)
            return
        ctype = (
            _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        self._send(200, body, ctype, etag)

    def _send(self, status: int, body: bytes, ctype: str | None, etag: str | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if etag:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", _STARTED)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    base_url: str
    hits: dict[str, int]
    _lock: threading.Lock

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1


class StaticSite:
    """Serve a folder on ``127.0.0.1:port`` in a background thread (port 0 picks a free one)."""

    def __init__(self, root: Path = SAMPLE_SITE, port: int = 0, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, port), _Handler)
        self._server.root = root.resolve()
        self._server.hits = {}
        self._server._lock = threading.Lock()
        self.port = self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self._server.base_url = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sample-site")

    @property
    def hits(self) -> dict[str, int]:
        """Requests served per path (for tests: "was this page fetched again?")."""
        return dict(self._server.hits)

    def start(self) -> StaticSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StaticSite:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
