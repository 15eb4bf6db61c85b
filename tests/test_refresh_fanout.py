"""`refresh --all` over one worker process per CPU (oauthcli/grants/fanout.py, SPEC §8).

The installed console script runs against a real loopback token endpoint. Each profile's
request carries a form field ``worker=${cmd:sh pid.sh}``, a script that prints ``$PPID``: the
pid of the process that resolved it, so the endpoint sees which process refreshed what. Runs
go through a small subreaper (``REAPER``): a worker that the parent failed to reap would be
handed to it when the parent exits, so it reports every such leftover.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from oauthcli.errors import ConfigError, ExitCode, OAuthCliError, ProviderError
from oauthcli.export.variables import CommandNotFound
from oauthcli.grants.fanout import MIN_SHARE, WorkerLost
from oauthcli.grants.worker import Frames, encode
from tests.conftest import SCRIPT, write_profiles
from tests.server import LoopbackServer, Request, Response

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
needs_two_cpus = pytest.mark.skipif(
    CPUS < 2 or not sys.platform.startswith("linux"), reason="fan-out needs 2 CPUs (and Linux here)"
)
SECRET = "rt-SECRET-xyz"  # resolved through ${env:} in the workers only
TWO = 2 * MIN_SHARE  # profiles for exactly two workers on any machine with 2 CPUs or more

REAPER = r"""
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
if os.environ.get("REAPER_ONE_CPU"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        start_new_session=True)
if os.environ.get("REAPER_PIDFILE"):
    with open(os.environ["REAPER_PIDFILE"] + ".tmp", "w") as f:
        f.write(str(proc.pid))
    os.replace(os.environ["REAPER_PIDFILE"] + ".tmp", os.environ["REAPER_PIDFILE"])
out, err = proc.communicate()
left = []
while True:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    left.append(pid if pid else "still running")
    if not pid:
        break
print(json.dumps({"pid": proc.pid, "code": proc.returncode, "stdout": out.decode(),
                  "stderr": err.decode(), "left": left}))
"""


class Endpoint:
    """The token endpoint: ``at-<client_id>`` after ``delay``; some clients fail on purpose."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.seen: list[tuple[str, str, str]] = []  # (client_id, refresh_token, worker)
        self.refuse: set[str] = set()
        self.broken: set[str] = set()
        self.empty: set[str] = set()
        self.killers: set[str] = set()  # SIGKILL the worker that sends their request
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        form = request.form
        client, token, worker = form["client_id"], form["refresh_token"], form.get("worker", "")
        with self._lock:
            self.seen.append((client, token, worker))
        if client in self.killers:
            os.kill(int(worker), signal.SIGKILL)
        if client in self.refuse:  # the message quotes the secret: the parent must redact it
            return Response(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": f"refresh token {token} is revoked",
                },
            )
        if client in self.broken:
            return Response(500, "oops", {"Content-Type": "text/plain"})
        if client in self.empty:
            return Response(200, {"token_type": "bearer"})
        return Response(200, {"access_token": f"at-{client}", "expires_in": 3600}, delay=self.delay)

    def pids(self) -> set[int]:
        return {int(worker) for _, _, worker in self.seen if worker}

    def clients(self) -> Counter[str]:
        return Counter(client for client, _, _ in self.seen)


@pytest.fixture
def endpoint(server: LoopbackServer) -> Endpoint:
    found = Endpoint()
    server.route("/token", found)
    return found


def names(count: int) -> list[str]:
    return [f"p{i:03d}" for i in range(count)]


def fleet(tmp_path: Path, server: LoopbackServer, count: int, refresh_token: str = "rt-plain",
          special: dict[str, dict[str, Any]] | None = None, tell: bool = True) -> Path:  # fmt: skip
    """``count`` profiles; with ``tell``, each request says which process sent it."""
    (tmp_path / "pid.sh").write_text('echo "$PPID"\n')
    profiles = {
        name: {
            "token_url": server.url("/token"),
            "body": body(tmp_path, name, tell),
            "refresh_token": refresh_token,
            "retries": 0,
            "timeout": 30,
            **(special or {}).get(name, {}),
        }  # fmt: skip
        for name in names(count)
    }
    return write_profiles(tmp_path / "oauthcli.yaml", profiles)


def body(tmp_path: Path, name: str, tell: bool) -> dict[str, str]:
    fields = {"grant_type": "refresh_token", "refresh_token": "${refresh_token}", "client_id": name}
    return {**fields, "worker": f"${{cmd:sh {tmp_path / 'pid.sh'}}}"} if tell else fields


def reaped(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> dict[str, Any]:
    """Run the console script under the subreaper: pid, code, stdout, stderr, left."""
    done = subprocess.run([sys.executable, "-c", REAPER, SCRIPT, *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def state_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state").glob("p*.json"))


@pytest.mark.slow
@needs_two_cpus
def test_every_profile_once_in_input_order_as_in_one_process(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint
) -> None:
    count = 2 * TWO
    config = str(fleet(tmp_path, server, count))
    fanned = reaped("refresh", "--all", "-f", "token", env={"OAUTHCLI_CONFIG": config})
    assert fanned["code"] == 0, fanned
    assert fanned["stdout"] == "".join(f"at-{n}\n" for n in names(count))
    assert (fanned["stderr"], fanned["left"]) == ("", [])
    assert endpoint.clients() == Counter(names(count))
    workers = endpoint.pids()
    assert len(workers) >= 2 and fanned["pid"] not in workers  # worker processes did the work
    files = state_files(tmp_path)
    assert len(files) == count and {f.stat().st_mode & 0o777 for f in files} == {0o600}

    endpoint.seen.clear()  # the same run in one process (one CPU: no fan-out), same output
    single = reaped("refresh", "--all", "-f", "token",
                    env={"OAUTHCLI_CONFIG": config, "REAPER_ONE_CPU": "1"})  # fmt: skip
    assert (single["code"], single["stdout"], single["stderr"]) == (0, fanned["stdout"], "")
    assert endpoint.pids() == {single["pid"]}
    assert endpoint.clients() == Counter(names(count))


@pytest.mark.slow
@needs_two_cpus
def test_failures_in_both_workers_each_in_its_place_redacted_worst_code(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint
) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    endpoint.refuse = {"p003", "p010"}  # shares: even and odd positions
    endpoint.broken = {"p021", "p030"}
    endpoint.empty = {"p041"}
    unreachable = {"p050", "p063"}
    special = {n: {"token_url": f"http://127.0.0.1:{closed}/token"} for n in unreachable}
    config = str(fleet(tmp_path, server, TWO, "${env:FLEET_RT}", special))
    result = reaped("refresh", "--all", "-f", "json",
                    env={"OAUTHCLI_CONFIG": config, "FLEET_RT": SECRET})  # fmt: skip
    failing = endpoint.refuse | endpoint.broken | endpoint.empty | unreachable
    assert result["code"] == ExitCode.BAD_RESPONSE  # the worst: 6 over 5 (500, refused) and 4
    lines = [json.loads(line) for line in result["stdout"].splitlines()]
    assert [line["profile"] for line in lines] == names(TWO)
    codes = {line["profile"]: line.get("exit_code") for line in lines if "error" in line}
    assert codes == {**dict.fromkeys(endpoint.refuse, 4), **dict.fromkeys(endpoint.broken, 5),
                     **dict.fromkeys(unreachable, 5), "p041": 6}  # fmt: skip
    errors = [line for line in result["stderr"].splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in errors] == sorted(failing)
    refused = [line for line in errors if line.startswith(("error: p003", "error: p010"))]
    assert all("****-xyz" in line for line in refused), errors  # redacted with the workers' secrets
    assert SECRET not in result["stdout"] + result["stderr"]
    assert result["left"] == []
    assert endpoint.clients() == Counter(set(names(TWO)) - unreachable)
    assert len(endpoint.pids()) == 2 and result["pid"] not in endpoint.pids()


@pytest.mark.slow
@needs_two_cpus
def test_a_killed_worker_costs_its_unfinished_profiles_only(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint
) -> None:
    endpoint.delay = 0.5  # the other profiles of the killed worker are still waiting
    endpoint.killers = {"p005"}  # an odd position: the second worker
    special = {"p005": {"body": body(tmp_path, "p005", tell=True)}}  # no other ${cmd:} runs
    config = str(fleet(tmp_path, server, TWO, special=special, tell=False))
    result = reaped("refresh", "--all", "-f", "token", env={"OAUTHCLI_CONFIG": config})
    (killed,) = endpoint.pids()
    assert result["code"] == ExitCode.TRANSIENT, result
    assert result["left"] == []  # every worker reaped, none left running
    out = result["stdout"].splitlines()
    assert len(out) == TWO and all(out[i] == f"at-p{i:03d}" for i in range(0, TWO, 2))
    lost = {n for n, line in zip(names(TWO), out, strict=True) if not line}
    assert "p005" in lost and all(int(n[1:]) % 2 == 1 for n in lost)
    errors = [line for line in result["stderr"].splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in errors] == sorted(lost)
    expected = f"worker process {killed} was killed by signal 9 (SIGKILL) before reporting"
    assert all(expected in line for line in errors), errors


@pytest.mark.slow
@needs_two_cpus
@pytest.mark.parametrize("whom", ["process group", "parent only"])
def test_ctrl_c_ends_the_workers_after_the_refreshes_under_way(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint, whom: str
) -> None:
    endpoint.delay = 1.0
    config = str(fleet(tmp_path, server, TWO))
    pidfile = tmp_path / "pid"
    found: dict[str, Any] = {}
    env = {"OAUTHCLI_CONFIG": config, "REAPER_PIDFILE": str(pidfile)}
    runner = threading.Thread(target=lambda: found.update(reaped("refresh", "--all", env=env)))
    runner.start()
    deadline = time.monotonic() + 30
    while len(endpoint.seen) < TWO and time.monotonic() < deadline:  # every request under way
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    os.killpg(pid, signal.SIGINT) if whom == "process group" else os.kill(pid, signal.SIGINT)
    runner.join(60)
    assert not runner.is_alive()
    assert found["code"] == ExitCode.INTERRUPTED, found  # as in one process (Typer's Exit(130))
    assert found["left"] == []
    assert len(state_files(tmp_path)) == TWO  # the answers under way were all stored
    assert len(endpoint.seen) == TWO and len(endpoint.pids()) == 2


@pytest.mark.slow
@needs_two_cpus
def test_verbose_lines_come_whole_through_the_parent(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint
) -> None:
    config = str(fleet(tmp_path, server, TWO, "${env:FLEET_RT}"))
    result = reaped("-v", "refresh", "--all", "-f", "token",
                    env={"OAUTHCLI_CONFIG": config, "FLEET_RT": SECRET})  # fmt: skip
    assert result["code"] == 0 and result["left"] == []
    lines = result["stderr"].splitlines()
    assert sum(line.startswith("debug: request:") for line in lines) == TWO
    assert all(line.startswith(("debug: ", "  ")) for line in lines), lines
    assert SECRET not in result["stderr"] and "****-xyz" in result["stderr"]
    assert len(endpoint.pids()) == 2 and result["pid"] not in endpoint.pids()


@pytest.mark.slow
@needs_two_cpus
def test_redis_store_each_worker_its_own_connection(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint, redis_db: Any
) -> None:
    config = str(fleet(tmp_path, server, TWO))
    env = {"OAUTHCLI_CONFIG": config, "OAUTHCLI_STORE": redis_db.url}
    result = reaped("refresh", "--all", "-f", "token", env=env)
    assert (result["code"], result["stderr"], result["left"]) == (0, "", [])
    assert result["stdout"] == "".join(f"at-{n}\n" for n in names(TWO))
    assert len(endpoint.pids()) == 2
    assert len(redis_db.client().keys("oauthcli:state:*")) == TWO
    (tmp_path / "state").rename(tmp_path / "elsewhere")  # no local copy: answered from Redis
    again = reaped("token", "p063", env=env)
    assert (again["code"], again["stdout"]) == (0, "at-p063\n")
    assert len(endpoint.seen) == TWO


@pytest.mark.slow
@needs_two_cpus
def test_progress_is_drawn_on_a_terminal_with_workers(
    tmp_path: Path, server: LoopbackServer, endpoint: Endpoint
) -> None:
    import pty

    config = str(fleet(tmp_path, server, TWO))
    master, slave = pty.openpty()
    proc = subprocess.Popen([SCRIPT, "refresh", "--all", "-f", "token"], stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "TERM": "xterm",
                                               "OAUTHCLI_CONFIG": config})  # fmt: skip
    os.close(slave)
    drawn = bytearray()
    reader = threading.Thread(target=lambda: _drain(master, drawn), daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=60)
    reader.join(5)
    os.close(master)
    assert proc.returncode == 0
    assert out.decode() == "".join(f"at-{n}\n" for n in names(TWO))
    assert b"\x1b[" in drawn and b"p063" in drawn  # the live display, drawn by the parent
    assert len(endpoint.pids()) == 2 and proc.pid not in endpoint.pids()


def _drain(fd: int, into: bytearray) -> None:
    try:
        while chunk := os.read(fd, 65536):
            into += chunk
    except OSError:
        pass


def test_errors_survive_pickling_with_hint_fields_and_exit_code() -> None:
    refused = ProviderError("refused", "get a new one", error="invalid_grant", status=400)
    lost = WorkerLost("worker process 7 was killed", "refresh it again")
    missing = CommandNotFound("cannot run 'x'")
    for error in (refused, lost, missing, ConfigError("bad", "fix it")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and copy.__dict__ == error.__dict__
        assert (str(copy), copy.exit_code) == (str(error), error.exit_code)
    assert pickle.loads(pickle.dumps(refused)).hint == "get a new one"


def test_a_failure_that_cannot_be_pickled_arrives_as_its_text_hint_and_code() -> None:
    error = ProviderError("refused", "a hint", status=429)
    error.response = threading.Lock()  # type: ignore[attr-defined]
    frames = Frames()
    data = encode(("done", ("p", error), ["s3cr3t"]))
    messages = frames.feed(data[:3]) + frames.feed(data[3:] + encode(("end", None, [])))
    (kind, (name, copy), secrets), end = messages
    assert (kind, name, secrets, end) == ("done", "p", ["s3cr3t"], ("end", None, []))
    assert isinstance(copy, OAuthCliError)
    assert (copy.message, copy.hint, copy.exit_code) == ("refused", "a hint", ExitCode.REFUSED)


def test_fan_out_only_from_the_process_own_untouched_world() -> None:
    from oauthcli.grants.fanout import worker_count
    from oauthcli.world import World

    def world(**made: object) -> World:
        real = World(stdout=sys.__stdout__, stderr=sys.__stderr__)  # type: ignore[arg-type]
        real._made.update(made)
        return real

    many = names(4 * MIN_SHARE)
    assert worker_count(world(), many) == min(CPUS, 4)
    assert worker_count(world(), names(2 * MIN_SHARE - 1)) == 1  # a share would be too small
    assert worker_count(world(), [*many, "p000"]) == 1  # a name twice: one process
    assert worker_count(world(session=object()), many) == 1  # its pool must not be shared
    assert worker_count(world(store=object()), many) == 1
    injected = World(environ=dict(os.environ), stdout=io.StringIO(), stderr=io.StringIO())
    assert worker_count(injected, many) == 1  # a test's world: streams of its own


def test_what_a_lost_profile_says() -> None:
    from oauthcli.grants.fanout import WorkerCrashed, _Worker

    worker = _Worker(4242, -1, {})
    worker.status = -9
    assert str(worker.lost()) == (
        "worker process 4242 was killed by signal 9 (SIGKILL) before reporting this profile"
    )
    assert worker.lost().exit_code == ExitCode.TRANSIENT and worker.lost().hint
    worker.status = 3
    assert "worker process 4242 exited with status 3" in str(worker.lost())
    worker.crash = "TypeError: boom"
    crashed = worker.lost()
    assert isinstance(crashed, WorkerCrashed) and crashed.exit_code == ExitCode.INTERNAL
    assert str(crashed) == "internal error in worker process 4242: TypeError: boom"
