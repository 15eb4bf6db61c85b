"""`oauthcli demo`: a token endpoint on 127.0.0.1 and a throw-away profile, driven by real commands.

The provider rotates refresh tokens (as Xero, Slack or GitHub Apps do) and offers RFC 7662
introspection and RFC 7009 revocation, so every part of the journey is the real code path.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

CLIENT_ID = "demo-client"
TOKEN_TTL = 3600


@dataclass
class DemoProvider:
    """The provider's memory: live refresh token, issued access tokens, request count."""

    client_secret: str = field(default_factory=lambda: "demo-secret-" + secrets.token_hex(8))
    refresh_token: str = field(default_factory=lambda: "demo-rt-" + secrets.token_hex(12))
    access_tokens: set[str] = field(default_factory=set)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, form: dict[str, str], authorized: bool) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
            if not authorized:
                return 401, {"error": "invalid_client"}
            if form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": "refresh token reused"}
            self.refresh_token = "demo-rt-" + secrets.token_hex(12)  # rotation
            access_token = "demo-at-" + secrets.token_hex(16)
            self.access_tokens.add(access_token)
            return 200, {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL,
                "refresh_token": self.refresh_token,
                "scope": "demo.read demo.write",
            }

    def introspect(self, form: dict[str, str], authorized: bool) -> tuple[int, dict[str, Any]]:
        if not authorized:
            return 401, {"error": "invalid_client"}
        if form.get("token") not in self.access_tokens:
            return 200, {"active": False}
        return 200, {"active": True, "client_id": CLIENT_ID, "scope": "demo.read demo.write"}

    def revoke(self, form: dict[str, str], authorized: bool) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.access_tokens.discard(form.get("token", ""))
        return (200, {}) if authorized else (401, {"error": "invalid_client"})


def _handler(provider: DemoProvider) -> type[BaseHTTPRequestHandler]:
    expected = (
        "Basic " + base64.b64encode(f"{CLIENT_ID}:{provider.client_secret}".encode()).decode()
    )
    routes = {
        "/token": provider.token,
        "/introspect": provider.introspect,
        "/revoke": provider.revoke,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode("utf-8")))
            route = routes.get(self.path.split("?")[0])
            authorized = self.headers.get("Authorization") == expected
            status, body = route(form, authorized) if route else (404, {"error": "not_found"})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@dataclass
class Step:
    title: str
    explanation: str
    argv: list[str]
    code: int = 0
    stdout: str = ""
    stderr: str = ""


PROFILE = """\
profiles:
  demo:
    description: the oauthcli demo provider on 127.0.0.1
    token_url: {base}/token
    auth:
      type: basic
      client_id: {client_id}
      client_secret: ${{env:DEMO_CLIENT_SECRET}}
    body:
      grant_type: refresh_token
      refresh_token: ${{refresh_token}}
    refresh_token: ${{env:DEMO_REFRESH_TOKEN}}
    revocation_url: {base}/revoke
    validate:
      introspection_url: {base}/introspect
"""

STEPS = [
    ("Refresh", "POST the refresh token to the token endpoint; the provider rotates it.",
     ["refresh", "demo"]),
    ("Refresh again: rotation",
     "The first refresh token is dead now. oauthcli stored the rotated one before it printed "
     "the token, and ${refresh_token} resolves to it.", ["refresh", "demo", "-f", "json"]),
    ("Token from the store", "A fresh stored token is reused: no request reaches the provider.",
     ["token", "demo"]),
    ("Export", "Quoted so that eval can never run anything a token server returned.",
     ["env", "demo"]),
    ("Validate", "Introspection (RFC 7662) at the provider, plus local expiry checks.",
     ["validate", "demo"]),
]  # fmt: skip


def run(workdir: Path | None = None) -> Iterator[tuple[Step, DemoProvider]]:
    """Serve the provider, write the profile, and run each step's real command in turn."""
    provider = DemoProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory(prefix="oauthcli-demo-", dir=workdir) as tmp:
            config = Path(tmp) / "profiles.yaml"
            config.write_text(PROFILE.format(base=base, client_id=CLIENT_ID), encoding="utf-8")
            env = _environment(provider, config, Path(tmp) / "state")
            for title, explanation, args in STEPS:
                yield _execute(Step(title, explanation, ["oauthcli", *args]), env), provider
    finally:
        server.shutdown()
        server.server_close()


def _environment(provider: DemoProvider, config: Path, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "OAUTHCLI_CONFIG")}
    env.update(
        OAUTHCLI_CONFIG=str(config),
        OAUTHCLI_STATE_DIR=str(state),
        DEMO_CLIENT_SECRET=provider.client_secret,
        DEMO_REFRESH_TOKEN=provider.refresh_token,
        COLUMNS="100",
    )
    return env


def _execute(step: Step, env: dict[str, str]) -> Step:
    done = subprocess.run(
        [sys.executable, "-m", "oauthcli", *step.argv[1:]],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    step.code, step.stdout, step.stderr = done.returncode, done.stdout, done.stderr
    return step
