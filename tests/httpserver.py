"""A scriptable HTTP server on loopback for integration tests: each path maps to a handler function."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Handler = Callable[["Request"], None]


class Request(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.log.append((path, dict(self.headers.items())))
        handler = self.server.routes.get(path)
        if handler is None:
            self.reply(404, b"not found", "text/plain")
        else:
            handler(self)

    def reply(self, status: int, body: bytes = b"", ctype: str | None = "text/html", **headers: str) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Handler]
    log: list[tuple[str, dict[str, str]]]
    lock: threading.Lock


class TestServer:
    """``with TestServer() as srv: srv.route("/x", handler); srv.url("/x")``."""

    __test__ = False

    def __init__(self) -> None:
        self._srv = _Server(("127.0.0.1", 0), Request)
        self._srv.routes = {}
        self._srv.log = []
        self._srv.lock = threading.Lock()
        self.host = f"127.0.0.1:{self._srv.server_address[1]}"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    def route(self, path: str, handler: Handler) -> None:
        self._srv.routes[path] = handler

    def static(self, path: str, body: bytes, ctype: str = "text/html", **headers: str) -> None:
        self.route(path, lambda r: r.reply(200, body, ctype, **headers))

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def requests(self, path: str | None = None) -> list[tuple[str, dict[str, str]]]:
        with self._srv.lock:
            return [e for e in self._srv.log if path is None or e[0] == path]

    def __enter__(self) -> TestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()
