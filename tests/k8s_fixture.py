"""A fake Kubernetes API server over HTTPS, and kubeconfig files whose user is an exec plugin.

`FakeKubeAPI` answers what `kubectl get --raw /api` and discovery need (``/api``, ``/api/v1``,
``/apis``, ``/version``) on 127.0.0.1 with a certificate from a test CA, and answers 401 with a
``Status`` unless ``Authorization: Bearer <token>`` carries an accepted token. Every request is
recorded (method, path, Authorization header) so a test can see what kubectl sent.

`write_kubeconfig` writes a kubeconfig whose cluster trusts the fake's CA and whose user runs an
exec credential plugin (``users[].user.exec``); `write_exec_plugin` writes a tiny shell plugin
that prints a static ExecCredential and records ``$KUBERNETES_EXEC_INFO``; `run_kubectl` runs the
real kubectl with HOME, KUBECONFIG and the cache dir inside the test's temp dir.

Fixtures (``pytest_plugins = ["tests.k8s_fixture"]``): ``kube_api`` (function-scoped, accepts
the token ``"T"``), ``kubectl_bin`` (the kubectl path, or a skip). Nothing here imports oauthcli.
PYTEST_DONT_REWRITE (no test asserts here).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.redis_fixture import TLSFiles, make_tls_files

KUBECTL = shutil.which("kubectl")
EXEC_V1 = "client.authentication.k8s.io/v1"
EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1"
SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "fake",
                  "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                  "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"}  # fmt: skip


@dataclass
class KubeRequest:
    method: str
    path: str
    query: str
    authorization: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def bearer(self) -> str | None:
        auth = self.authorization or ""
        return auth[7:] if auth[:7].lower() == "bearer " else None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


class _TLSThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's thread, so one stuck client blocks nobody.
        try:
            tls_sock = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust the CA: it sees the failure, not us
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-request are fine here


class FakeKubeAPI:
    """HTTPS on 127.0.0.1:<free port>. ``accepted``: tokens let in; None means any bearer token."""

    def __init__(self, root: Path, accepted: Iterable[str] | None = ("T",),
                 tls_files: TLSFiles | None = None, anonymous: Iterable[str] = ()) -> None:  # fmt: skip
        self.root = root
        self.tls = tls_files or make_tls_files(root / "kube-pki", name="fake kube-apiserver CA")
        self.accepted: set[str] | None = None if accepted is None else set(accepted)
        self.anonymous: set[str] = set(anonymous)  # paths answered without a token
        self.requests: list[KubeRequest] = []
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert, self.tls.key)
        context.set_alpn_protocols(["http/1.1"])
        self._httpd = _TLSThreadingServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.context = context
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)  # fmt: skip

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.tls.ca

    def start(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what the server saw -----------------------------------------------------------------

    @property
    def authorizations(self) -> list[str | None]:
        """The Authorization header of every request, in order (None when absent)."""
        with self._lock:
            return [r.authorization for r in self.requests]

    def hits(self, path: str) -> list[KubeRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # answers -----------------------------------------------------------------------------

    def _authorized(self, request: KubeRequest) -> bool:
        if request.path in self.anonymous:
            return True
        token = request.bearer
        if not token:
            return False
        return self.accepted is None or token in self.accepted

    def answer(self, request: KubeRequest) -> tuple[int, dict[str, Any]]:
        if not self._authorized(request):
            return 401, _status(401, "Unauthorized", "Unauthorized")
        if request.method != "GET":
            return 405, _status(405, "MethodNotAllowed", "the server does not allow this method")
        if request.path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        if request.path == "/api/v1":
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                         "resources": []}  # fmt: skip
        if request.path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if request.path == "/version":
            return 200, dict(SERVER_VERSION)
        return 404, _status(404, "NotFound", "the server could not find the requested resource")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                request = KubeRequest(self.command, parts.path, parts.query,
                                      self.headers.get("Authorization"),
                                      {k.lower(): v for k, v in self.headers.items()})  # fmt: skip
                with api._lock:
                    api.requests.append(request)
                status, payload = api.answer(request)
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return _Handler


# --- kubeconfig, plugin, kubectl -----------------------------------------------------------


def write_kubeconfig(path: Path, api: FakeKubeAPI | str, *, command: str,
                     args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                     api_version: str = EXEC_V1, interactive_mode: str | None = "Never",
                     provide_cluster_info: bool = False, ca_path: Path | None = None,
                     name: str = "fake") -> Path:  # fmt: skip
    """A kubeconfig (JSON, which is YAML) with one cluster, one exec-plugin user, one context.

    ``interactiveMode`` is required by client.authentication.k8s.io/v1 and optional in v1beta1;
    pass ``interactive_mode=None`` to leave it out.
    """
    server = api.url if isinstance(api, FakeKubeAPI) else api
    ca = ca_path or (api.ca_path if isinstance(api, FakeKubeAPI) else None)
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    exec_: dict[str, Any] = {
        "apiVersion": api_version,
        "command": command,
        "args": list(args),
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "provideClusterInfo": provide_cluster_info,
    }
    if interactive_mode is not None:
        exec_["interactiveMode"] = interactive_mode
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"exec": exec_}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def write_exec_plugin(path: Path, token: str, *, api_version: str = EXEC_V1,
                      expiration: str = "2030-01-01T00:00:00Z",
                      record: Path | None = None) -> Path:  # fmt: skip
    """A /bin/sh exec plugin printing a static ExecCredential; with ``record``, each run appends
    one line of ``$KUBERNETES_EXEC_INFO`` (``<unset>`` when absent) to that file."""
    credential = json.dumps({"apiVersion": api_version, "kind": "ExecCredential",
                             "status": {"token": token, "expirationTimestamp": expiration}})  # fmt: skip
    lines = ["#!/bin/sh"]
    if record is not None:
        lines.append(
            f'printf "%s\\n" "${{KUBERNETES_EXEC_INFO-<unset>}}" >> {shlex.quote(str(record))}'
        )
    lines.append(f"printf '%s\\n' {shlex.quote(credential)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def kubectl_env(home: Path, kubeconfig: Path | None = None,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """os.environ with HOME, KUBECONFIG and kubectl's cache dir in ``home`` (nothing of the user's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "HTTP", "HTTPS"))
           and k.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}  # fmt: skip
    env["HOME"] = str(home)
    env["KUBECACHEDIR"] = str(home / ".kube" / "cache")
    env["NO_PROXY"] = "127.0.0.1,localhost"
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    env.update(extra or {})
    return env


def run_kubectl(kubeconfig: Path, *args: str, home: Path, timeout: float = 60,
                env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``kubectl --kubeconfig K <args>`` with an isolated HOME; skips when kubectl is absent."""
    if not KUBECTL:
        pytest.skip("kubectl not found (it is on the machine image; the Kubernetes tests need it)")
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / ".kube" / "cache"),
         "--request-timeout", "20s", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env=kubectl_env(home, kubeconfig, env), cwd=home,
    )  # fmt: skip


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    """A fresh fake API server accepting ``Bearer T``; set ``.accepted`` (None = any) to change."""
    with FakeKubeAPI(tmp_path / "kube-api") as api:
        yield api


@pytest.fixture
def kubectl_bin() -> str:
    if not KUBECTL:
        pytest.skip("kubectl not found (it is on the machine image; the Kubernetes tests need it)")
    return KUBECTL
