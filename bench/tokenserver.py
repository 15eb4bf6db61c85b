"""Loopback token endpoints for the benchmarks: keep-alive HTTP/1.1 on 127.0.0.1.

One class, three configurations (see bench/bench.py):

- ``fast``: answers at once;
- ``slow``: answers after ``delay`` seconds (200 ms for `refresh --all`);
- ``rotating``: counts requests and rotates refresh tokens strictly: only the latest refresh
  token issued to a client is accepted, any older one gets ``invalid_grant`` (so a lost
  rotation, or two processes refreshing with the same token, shows up as a rejected request).

Run it alone for manual poking: ``python bench/tokenserver.py [--delay 0.2] [--rotate]``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 50 concurrent connects must not overflow the listen backlog
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup we do not need.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]


class TokenServer:
    """A token endpoint at ``self.url``; ``count`` is the number of token requests received."""

    def __init__(self, delay: float = 0.0, rotate: bool = False, expires_in: int = 3600) -> None:
        self.delay = delay
        self.rotate = rotate
        self.expires_in = expires_in  # changeable between requests
        self.count = 0
        self.rejected = 0
        self._issued = 0
        self._latest: dict[str, str] = {}  # client_id -> the only refresh token it may use
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token response for one request (called by the handler thread)."""
        with self._lock:
            self.count += 1
            self._issued += 1
            serial = self._issued
            client = form.get("client_id", "")
            presented = form.get("refresh_token", "")
            if self.rotate:
                latest = self._latest.get(client)
                if latest is not None and presented != latest:
                    self.rejected += 1
                    return 400, {"error": "invalid_grant",
                                 "error_description": "refresh token already used"}  # fmt: skip
                self._latest[client] = f"rt-{client}-{serial}"
            body: dict[str, Any] = {
                "access_token": f"at-{client}-{serial}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "scope": "bench",
            }
            if self.rotate:
                body["refresh_token"] = self._latest[client]
            return 200, body

    @staticmethod
    def discovery(base: str) -> dict[str, Any]:
        return {
            "issuer": base + "/", "token_endpoint": base + "/token",
            "authorization_endpoint": base + "/authorize", "jwks_uri": base + "/jwks",
            "userinfo_endpoint": base + "/userinfo", "revocation_endpoint": base + "/revoke",
            "device_authorization_endpoint": base + "/device",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "offline_access"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body
            # until the client's delayed ACK (40 ms on Linux) - a stall no real endpoint has.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - OpenID discovery, for oidc-agent (peers.py)
                base = f"http://127.0.0.1:{server.port}"
                if self.path.rstrip("/") != "/.well-known/openid-configuration":
                    self.send_error(404)
                    return
                data = json.dumps(server.discovery(base)).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                if "json" in (self.headers.get("Content-Type") or ""):
                    form = {k: str(v) for k, v in json.loads(raw or "{}").items()}
                else:
                    form = dict(parse_qsl(raw, keep_blank_values=True))
                if server.delay:
                    time.sleep(server.delay)
                status, body = server.answer(form)
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--rotate", action="store_true")
    args = parser.parse_args()
    srv = TokenServer(args.delay, args.rotate).start()
    print(srv.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
