"""Launcher of the test authorization server.

    python -m tests.authserver.serve --db /tmp/x/db.sqlite3 [--port 0] [--access-token-ttl 300]

Run with the repository root as working directory (or on ``PYTHONPATH``). It creates the
schema in a fresh SQLite file, creates the test user and the OAuth clients, binds
127.0.0.1 (port 0 = a free port), prints ONE JSON line on stdout when it accepts
connections, then serves with Django's threaded WSGI server until killed. After the
ready line nothing else is written to stdout (logs go to stderr).

The JSON line::

    {"port": 41234, "base_url": "http://127.0.0.1:41234", "pid": 123,
     "username": "alice", "password": "...", "access_token_ttl": 300,
     "clients": {"basic": {"client_id": "...", "client_secret": "...",
                           "auth_method": "client_secret_basic", "grant_type": "password",
                           "client_type": "confidential", "redirect_uris": []}, ...}}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import threading

USERNAME = "alice"

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# name -> (client_type, grant, auth_method); grant is DOT's authorization_grant_type.
CLIENTS = {
    "basic": ("confidential", "password", "client_secret_basic"),
    "post": ("confidential", "password", "client_secret_post"),
    "public": ("public", "password", "none"),
    "cc": ("confidential", "client-credentials", "client_secret_basic"),
    # id and secret full of characters that must be percent-encoded (RFC 6749 §2.3.1)
    "special": ("confidential", "password", "client_secret_basic"),
    # `oauthcli login`: authorization code + PKCE (S256 required) with loopback redirects...
    "authcode_public": ("public", "authorization-code", "none"),
    "authcode_basic": ("confidential", "authorization-code", "client_secret_basic"),
    # ...and the RFC 8628 device flow.
    "device_public": ("public", DEVICE_GRANT, "none"),
    "device_basic": ("confidential", DEVICE_GRANT, "client_secret_basic"),
}
# The grant_type a client sends to the token endpoint, per DOT grant.
TOKEN_GRANT_TYPES = {
    "password": "password",
    "client-credentials": "client_credentials",
    "authorization-code": "authorization_code",
    DEVICE_GRANT: DEVICE_GRANT,
}
# RFC 8252 §7.3: DOT lets a request use any port with these (settings.ALLOW_LOCALHOST_LOOPBACK
# extends it to localhost). Other paths: AuthServer.register_redirect_uri().
LOOPBACK_REDIRECT_URIS = [
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
]
SPECIAL_CLIENT_ID = "special client:id+%/é"
SPECIAL_SECRET_PREFIX = "s3cr%t ^*&=+#:?/ "


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.authserver.serve")
    parser.add_argument("--db", required=True, help="path of the (new) SQLite database file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--access-token-ttl", type=int, default=300, help="seconds")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when stdin reaches EOF (the parent died or closed the pipe)",
    )
    return parser.parse_args(argv)


def _setup_django(args: argparse.Namespace) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.authserver.settings"
    os.environ["AUTHSERVER_DB"] = os.path.abspath(args.db)
    os.environ["AUTHSERVER_ACCESS_TOKEN_TTL"] = str(args.access_token_ttl)
    import django

    django.setup()


def _create_schema() -> None:
    from django.core.management import call_command

    # settings.MIGRATION_MODULES disables migrations: this creates the tables directly.
    call_command("migrate", interactive=False, verbosity=0, run_syncdb=True)


def _create_fixtures() -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    password = "pw-" + secrets.token_urlsafe(12)
    clients = {}
    with transaction.atomic():
        user = get_user_model().objects.create_user(USERNAME, password=password)
        for name, (client_type, grant, auth_method) in CLIENTS.items():
            if name == "special":
                client_id = SPECIAL_CLIENT_ID
                secret = SPECIAL_SECRET_PREFIX + secrets.token_urlsafe(8)
            else:
                client_id = "oauthcli-" + name.replace("_", "-")
                secret = secrets.token_urlsafe(24)
            if client_type == "public":
                secret = ""
            redirect_uris = LOOPBACK_REDIRECT_URIS if grant == "authorization-code" else []
            Application.objects.create(
                name=name,
                client_id=client_id,
                client_secret=secret,
                hash_client_secret=False,  # DOT 3 hashes by default; keep it verifiable
                client_type=client_type,
                authorization_grant_type=grant,
                redirect_uris=" ".join(redirect_uris),
                user=user if grant != "client-credentials" else None,
                # ID tokens for `openid` (the others never ask for it)
                algorithm="RS256" if grant in ("authorization-code", DEVICE_GRANT) else "",
            )
            clients[name] = {
                "client_id": client_id,
                "client_secret": secret or None,
                "auth_method": auth_method,
                "grant_type": TOKEN_GRANT_TYPES[grant],
                "client_type": client_type,
                "redirect_uris": redirect_uris,
            }
    return {"username": USERNAME, "password": password, "clients": clients}


class _HeldWriter:
    """The handler's wfile, holding a response until ``release()`` sends it in one go."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self._held = bytearray()

    def write(self, data) -> int:
        self._held += data
        return len(data)

    def flush(self) -> None:  # wsgiref flushes after every write: hold on regardless
        pass

    def release(self) -> None:
        if self._held:
            data, self._held = bytes(self._held), bytearray()
            self._raw.write(data)
        self._raw.flush()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self.release()
        self._raw.close()


def _make_server(host: str, port: int):
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class Server(ThreadedWSGIServer):
        request_queue_size = 128  # Django's default of 10 is too small for burst tests

    class Handler(WSGIRequestHandler):
        # wsgiref writes the headers and the body separately: with Nagle on, a keep-alive
        # client waits for its delayed ACK (~40 ms) on every request.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            self.wfile = _HeldWriter(self.wfile)

        def log_request(self, *args, **kwargs) -> None:
            # The request's log line is written before its response leaves: a client
            # that has the response can read the line in the log.
            super().log_request(*args, **kwargs)
            self.wfile.release()

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the client may be gone
                self.wfile.release()
            super().finish()

    httpd = Server((host, port), Handler, ipv6=":" in host, allow_reuse_address=False)
    httpd.set_app(get_wsgi_application())
    return httpd


def _watch_stdin() -> None:
    # Raw os.read on fd 0, not sys.stdin: a daemon thread blocked inside the buffered
    # sys.stdin holds its lock and makes interpreter shutdown abort ("Fatal Python error").
    def run() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=run, name="stdin-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.exit_on_stdin_eof:
        _watch_stdin()
    _setup_django(args)
    _create_schema()
    info = _create_fixtures()
    httpd = _make_server(args.host, args.port)
    port = httpd.server_address[1]
    info.update(
        port=port,
        base_url=f"http://{args.host}:{port}",
        pid=os.getpid(),
        access_token_ttl=args.access_token_ttl,
    )
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    # From now on stdout is the log: nothing may write to the parent's pipe again.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
