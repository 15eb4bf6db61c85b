"""The HTTP layer shared by the fake servers: a ThreadingHTTPServer on 127.0.0.1, a free port,
every request recorded, and one-shot canned responses for failure tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Response = tuple[int, dict[str, str], bytes]


@dataclass
class RecordedRequest:
    """One request as it arrived, and what the server answered."""

    method: str
    path: str  # without the query string
    query: dict[str, str]  # last value of each query parameter
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    form: dict[str, str]  # last value of each form field (urlencoded bodies only)
    form_list: list[tuple[str, str]]  # every form field in order, repeats included
    time: float  # time.time() at arrival
    monotonic: float  # time.monotonic() at arrival
    status: int = 0
    response: Any = None  # the decoded JSON answer (or the raw bytes when not JSON)
    notes: dict[str, Any] = field(default_factory=dict)  # what the server decided, e.g. "client_id"

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def jwt(self, name: str = "client_assertion") -> tuple[dict[str, Any], dict[str, Any]]:
        """``(header, claims)`` of the JWT in form field ``name``, decoded WITHOUT verification
        (for asserting what the client sent; the server verifies separately)."""
        import jwt

        token = self.form[name]
        return jwt.get_unverified_header(token), jwt.decode(
            token, options={"verify_signature": False}
        )


class LoopbackServer:
    """Base class: subclasses implement ``dispatch(record) -> Response``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._canned: dict[str, list[Response]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                owner._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
            name=f"{type(self).__name__}:{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    # recording -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request recorded so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def last_request(self) -> RecordedRequest:
        reqs = self.requests
        if not reqs:
            raise AssertionError(f"{type(self).__name__} received no request")
        return reqs[-1]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def queue_response(
        self, path: str, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next request to ``path`` with this (a dict/list body is sent as JSON),
        bypassing the normal handling; several calls queue several answers."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            raw = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        with self._lock:
            self._canned.setdefault(path, []).append((status, hdrs, raw))

    # handling --------------------------------------------------------------------------------
    def dispatch(self, record: RecordedRequest) -> Response:
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived, arrived_mono = time.time(), time.monotonic()
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        form_list: list[tuple[str, str]] = []
        if ctype == "application/x-www-form-urlencoded":
            form_list = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            form=dict(form_list),
            form_list=form_list,
            time=arrived,
            monotonic=arrived_mono,
        )
        with self._lock:
            self._requests.append(record)
            canned = self._canned.get(parts.path)
            response = canned.pop(0) if canned else None
        if response is None:
            try:
                response = self.dispatch(record)
            except Exception as exc:  # a bug in the fake: say so rather than hang the client
                response = json_response(
                    500,
                    {"error": "server_error", "error_description": f"{type(exc).__name__}: {exc}"},
                )
        status, resp_headers, resp_body = response
        record.status = status
        try:
            record.response = json.loads(resp_body) if resp_body else None
        except ValueError:
            record.response = resp_body
        handler.send_response(status)
        for name, value in resp_headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(resp_body)))
        handler.end_headers()
        handler.wfile.write(resp_body)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
    hdrs.update(headers or {})
    return status, hdrs, json.dumps(body).encode()


Handler = Callable[[RecordedRequest], Response]
