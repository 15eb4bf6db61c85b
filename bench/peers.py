"""Peers on the same loopback endpoint, side by side with oauthcli (skipped with a note when
not installed): Google's `gcloud auth print-access-token` and oidc-agent's `oidc-token`.

gcloud: a temporary ``CLOUDSDK_CONFIG``, ``auth/token_host`` set to the bench's endpoint (gcloud
sends its refresh there: grant_type=refresh_token with its own client id and secret, checked by
the endpoint's request count), ``gcloud auth activate-refresh-token``. Cached: the access token
in its ``access_tokens.db``; refresh: that database removed before each run (untimed).
oidc-agent: an agent of its own (``--no-autoload``, a socket in the work dir), an account made
headlessly by ``oidc-gen --iss URL -m --client-id … --rt … --pw-env --prompt=none`` against the
endpoint's OpenID discovery; cached: ``oidc-token bench`` (the agent keeps the token in memory);
refresh: ``oidc-token -f bench`` (a new token each time).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from context import Bench, Row, quiet_run, which
from timing import CommandFailed
from tokenserver import TokenServer

PEER_RUNS = 10


def peers(b: Bench) -> None:
    for name, run in (("gcloud", _gcloud), ("oidc-token", _oidc_agent)):
        try:
            run(b)
        except CommandFailed as exc:
            b.rows.append(Row(f"peer {name}", "skipped"))
            b.notes.append(f"peer {name} skipped: {str(exc).strip()[-400:]}")


def _compare(b: Bench, name: str, env: dict[str, str], server: TokenServer,
             peer: dict[str, list[str]], prepare: dict[str, list[str]]) -> None:  # fmt: skip
    """oauthcli's cached token and refresh beside the peer's, on the same endpoint."""
    ours = b.env()
    b.run(b.cli("refresh", "fast"), ours)
    runs = max(PEER_RUNS, b.timer.runs // 3)
    before = server.count
    mine = b.timer.measure({"token": b.cli("token", "fast"), "refresh": b.cli("refresh", "fast")},
                           ours, runs=runs, warmup=1)  # fmt: skip
    cached = b.timer.measure({"cached": peer["cached"]}, env, runs=runs, warmup=1)["cached"]
    if server.count != before:
        b.notes.append(f"peer {name}: its cached runs sent {server.count - before} request(s)")
    before = server.count
    fresh = b.timer.measure({"refresh": peer["refresh"]}, env, runs=runs, warmup=1,
                            prepare=prepare)["refresh"]  # fmt: skip
    if server.count - before != runs + 1:
        b.notes.append(f"peer {name}: {server.count - before} refreshes, not {runs + 1}")
    b.ratio_row(f"peer {name}, cached: oauthcli token vs it", mine["token"], cached, None, name)
    b.ratio_row(f"peer {name}, refresh: oauthcli refresh vs it", mine["refresh"], fresh, None,
                name)  # fmt: skip


def _gcloud(b: Bench) -> None:
    gcloud = which("gcloud")
    if not gcloud:
        raise CommandFailed("gcloud is not installed")
    server = b.servers.setdefault("gcloud", TokenServer().start())
    config = b.workdir / "gcloud"
    env = {**b.env(), "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    for key, value in (("auth/token_host", server.url), ("core/disable_usage_reporting", "true"),
                       ("component_manager/disable_update_check", "true"),
                       ("survey/disable_prompts", "true")):  # fmt: skip
        _checked([gcloud, "config", "set", key, value], env)
    before = server.count
    _checked([gcloud, "auth", "activate-refresh-token", "bench@example.com", "rt-gcloud"], env)
    token = _checked([gcloud, "auth", "print-access-token"], env).strip()
    if server.count == before or not token.startswith("at-"):
        raise CommandFailed(f"gcloud did not refresh at {server.url} (token {token[:12]!r})")
    b.notes.append(f"peer gcloud: {_gcloud_python()}; refreshes at auth/token_host offline")
    print_token = [gcloud, "auth", "print-access-token"]
    _compare(b, "gcloud", env, server, {"cached": print_token, "refresh": print_token},
             {"refresh": ["rm", "-f", str(config / "access_tokens.db")]})  # fmt: skip


def _gcloud_python() -> str:
    bundled = Path("/usr/lib/google-cloud-sdk/platform/bundledpythonunix/bin/python3")
    if not bundled.exists():
        return "its own interpreter"
    version = subprocess.run([str(bundled), "--version"], capture_output=True, text=True)
    return f"bundled {version.stdout.strip()} (another interpreter than oauthcli's)"


def _oidc_agent(b: Bench) -> None:
    agent, gen, token = which("oidc-agent"), which("oidc-gen"), which("oidc-token")
    if not (agent and gen and token):
        raise CommandFailed("oidc-agent-cli is not installed (apt-get install oidc-agent-cli)")
    server = b.servers.setdefault("oidc", TokenServer().start())
    issuer = server.url.rsplit("/", 1)[0] + "/"
    home = b.workdir / "oidc"
    home.mkdir()
    socket_path = str(home / "agent.sock")
    env = {**b.env(), "OIDC_CONFIG_DIR": str(home / "config"), "OIDC_SOCK": socket_path,
           "OIDC_ENCRYPTION_PW": "bench-password"}  # fmt: skip
    started = _checked([agent, "--no-autoload", "-a", socket_path], env)
    pid = int(started.split("OIDCD_PID=", 1)[1].split(";", 1)[0])
    b.stop_callbacks.append(lambda: os.kill(pid, signal.SIGTERM))
    _checked([gen, "bench", f"--iss={issuer}", "-m", "--client-id=bench-client",
              "--client-secret=bench-secret", "--rt=rt-oidc", "--scope=openid offline_access",
              "--pw-env", "--prompt=none", "--confirm-default", "--no-url-call",
              "--redirect-uri=http://localhost:8080"], env)  # fmt: skip
    if not _checked([token, "bench"], env).startswith("at-"):
        raise CommandFailed("oidc-token printed no token")
    b.notes.append("peer oidc-token: a C client asking a running agent, which keeps the token "
                   "in memory (no interpreter, no files per run)")  # fmt: skip
    _compare(b, "oidc-token", env, server,
             {"cached": [token, "bench"], "refresh": [token, "-f", "bench"]}, {})  # fmt: skip


def _checked(argv: list[str], env: dict[str, str]) -> str:
    done = quiet_run(argv, env)
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv[:3])}… exited {done.returncode}: "
                            f"{(done.stderr or done.stdout).strip()[-300:]}")  # fmt: skip
    return done.stdout
