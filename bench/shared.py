"""SPEC §8 with a shared store (§10): Debian's redis-server, started by the bench on a free
loopback port (a password that needs escaping, AOF with appendfsync always), then

- `token` whose local copy is fresh (no network): ≤ 2.5 × `python -c pass`;
- `token` whose local copy was removed before the run (untimed), so it is checked against
  Redis (one read): ≤ 4 ×;
- 3 machines (state dirs) × 16 processes on one expired grant: exactly one request.
"""

from __future__ import annotations

import socket
import subprocess
import time
from urllib.parse import quote

from context import Bench, Row, which
from refresh import CONCURRENT, concurrently
from timing import CommandFailed

PASSWORD = "bench p@ss:w/rd"
FRESH_TARGET, CHECKED_TARGET = 2.5, 4.0
MACHINES = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(b: Bench) -> str:
    """A redis:// URL of a fresh server in the work dir (stopped with the bench)."""
    binary = which("redis-server")
    if not binary:
        raise CommandFailed("redis-server not found (apt-get install redis-server)")
    port, data = free_port(), b.workdir / "redis"
    data.mkdir()
    conf = data / "redis.conf"
    conf.write_text(f'port {port}\nbind 127.0.0.1\nrequirepass "{PASSWORD}"\nappendonly yes\n'
                    f'appendfsync always\nsave ""\ndir "{data}"\n')  # fmt: skip
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL)

    def stop() -> None:
        proc.kill()
        proc.wait()

    b.stop_callbacks.append(stop)
    for _ in range(250):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0?prefix=bench"
        time.sleep(0.02)
    raise CommandFailed("redis-server did not start")


def shared_store(b: Bench) -> None:
    url = start_redis(b)
    env = b.env("main", OAUTHCLI_STORE=url, OAUTHCLI_STATE_DIR=str(b.state_dir("redis0")))
    first = b.run(b.cli("refresh", "fast"), env).strip()
    before = b.servers["fast"].count
    drop = ["find", str(b.state_dir("redis0")), "-name", ".copy-*", "-delete"]
    stats = b.timer.measure(
        {"base": b.py("pass"), "fresh": b.cli("token", "fast"), "checked": b.cli("token", "fast")},
        env, prepare={"checked": drop},
    )  # fmt: skip
    sound = (
        b.servers["fast"].count == before and b.run(b.cli("token", "fast"), env).strip() == first
    )
    b.ratio_row("token, shared store, fresh local copy", stats["fresh"], stats["base"],
                FRESH_TARGET, "python -c pass", sound)  # fmt: skip
    b.ratio_row("token, shared store, checked against Redis", stats["checked"], stats["base"],
                CHECKED_TARGET, "python -c pass", sound)  # fmt: skip
    _fleet(b, url)


def _fleet(b: Bench, url: str) -> None:
    """3 machines × 16 `token` on one expired grant, ``rounds`` times: one request each."""
    server = b.servers["rotating"]
    envs = [b.env("main", OAUTHCLI_STORE=url, OAUTHCLI_STATE_DIR=str(b.state_dir(f"fleet{m}")))
            for m in range(MACHINES)]  # fmt: skip
    counts, slowest, bad = [], [], 0
    for _ in range(b.rounds):
        server.expires_in = 1  # the grant's token expires before the round starts…
        b.run(b.cli("refresh", "fleet"), envs[0])
        server.expires_in = 3600  # …and the one the round obtains does not
        for m in range(1, MACHINES):  # their copies still hold the last round's token, fresh
            for copy in b.state_dir(f"fleet{m}").glob(".copy-*"):
                copy.unlink()
        time.sleep(1.1)
        before = server.count
        commands = [b.cli("token", "fleet")] * (MACHINES * CONCURRENT)
        wall, outputs = concurrently(commands, [e for e in envs for _ in range(CONCURRENT)])
        counts.append(server.count - before)
        slowest.append(wall)
        tokens = {o[1] for o in outputs}
        bad += sum(1 for o in outputs if o[0] != 0) + (len(tokens) != 1)
        if len(tokens) != 1:
            b.notes.append(f"fleet: {len(tokens)} different outputs in one round")
        for code, _, err in [o for o in outputs if o[0] != 0][:2]:
            b.notes.append(f"fleet: a process exited {code}: {err.strip()[-300:]}")
    ok = all(c == 1 for c in counts) and not bad and server.rejected == 0
    if server.rejected:
        b.notes.append(f"fleet: the endpoint rejected {server.rejected} stale refresh token(s)")
    name = f"{MACHINES} machines × {CONCURRENT} token, one expired grant (Redis)"
    b.rows.append(Row(f"{name}: requests", ",".join(map(str, counts)), target="1 per round",
                      ok=ok))  # fmt: skip
    b.rows.append(Row(f"{name}: slowest process", f"{max(slowest):.2f} s"))
