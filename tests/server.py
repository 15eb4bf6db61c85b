"""A tiny threaded HTTP server on 127.0.0.1 with routed handlers, for behaviour tests.

`RotatingProvider` is a token endpoint that rotates refresh tokens the way Xero, Slack and
GitHub Apps do: every use issues a new one, and an old one used again gets `invalid_grant`.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        body = self.body.encode() if isinstance(self.body, str) else self.body
        return body, headers


Handler = Callable[[Request], Response]


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256  # `refresh --all` connects once per profile, all at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early (size cap, timeout) is expected here


class LoopbackServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def reply(self, path: str, response: Response | None = None, **kwargs: Any) -> str:
        """Serve a fixed response at ``path``; returns its URL."""
        fixed = response or Response(**kwargs)
        return self.route(path, lambda request: fixed)

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                server._record(request)
                handler = server.routes.get(parts.path)
                response = handler(request) if handler else Response(404, {"error": "not_found"})
                if response.delay:
                    time.sleep(response.delay)
                body, headers = response.encoded()
                try:
                    self.send_response(response.status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return _Handler


class RotatingProvider:
    """A refresh_token grant that rotates on every use; reuse of an old token is invalid_grant."""

    def __init__(self, initial: str = "rt-initial-0001", expires_in: int | str = 3600,
                 delay: float = 0.0) -> None:  # fmt: skip
        self.live = initial
        self.counter = 0
        self.expires_in = expires_in
        self.delay = delay
        self.revoked: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        form = request.form
        with self._lock:
            if form.get("grant_type") != "refresh_token":
                return Response(400, {"error": "unsupported_grant_type"})
            if form.get("refresh_token") != self.live:
                return Response(400, {"error": "invalid_grant",
                                      "error_description": "refresh token is invalid"})  # fmt: skip
            self.counter += 1
            self.live = f"rt-rotated-{self.counter:04d}"
            body = {
                "access_token": f"at-{self.counter:04d}-abcdefgh",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": self.live,
                "scope": "read write",
            }
        return Response(200, body, delay=self.delay)

    def revoke(self, request: Request) -> Response:
        with self._lock:
            token = request.form.get("token", "")
            self.revoked.append(token)
            if token == self.live:
                self.live = "revoked"
        return Response(200, b"")
