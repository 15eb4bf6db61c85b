"""SPEC §8 with a shared store (§10): a cached `token` with Redis, as ratios to `python -c pass`.

    PYTHON=.venv/bin/python .venv/bin/python bench/shared_store.py [--runs 30] [--keep]

Starts its own `redis-server` (Debian's; AOF with `appendfsync always`, a password) and a
loopback token endpoint (bench/tokenserver.py) in a temporary directory, and measures:

1. `oauthcli token fast` whose local copy is fresh: target ≤ 2.5 × `python -c pass`;
2. the same with the local copy removed before each run (untimed), so the run must check the
   shared store (one read of Redis): target ≤ 4 ×;
3. for reference, the same token from the file store;
4. 3 machines × 16 processes running `token` on one expired grant at once: exactly one request
   reaches the (strictly rotating) endpoint, every process prints the same token.

Each ratio is of medians of wall time, the two commands run alternately, after warm-up runs
(bytecode is cached in the temporary directory). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenserver import TokenServer  # noqa: E402

PASSWORD = "bench p@ss:w/rd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if not binary:
        sys.exit("redis-server not found: apt-get install redis-server")
    port = free_port()
    (root / "redis").mkdir()
    conf = root / "redis" / "redis.conf"
    conf.write_text(f'port {port}\nbind 127.0.0.1\nrequirepass "{PASSWORD}"\nappendonly yes\n'
                    f'appendfsync always\nsave ""\ndir "{root / "redis"}"\n')  # fmt: skip
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL)
    from urllib.parse import quote

    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0?prefix=bench"
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, url
        time.sleep(0.02)
    sys.exit("redis-server did not start")


def one_run(
    command: list[str], env: dict[str, str], prepare: Callable[[], None]
) -> tuple[float, float]:
    """(wall, cpu) seconds of one run; cpu = user + system of the child (robust under load)."""
    prepare()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


Medians = tuple[float, float, float, float]  # wall mine, wall base, cpu mine, cpu base


def compare(mine: list[str], base: list[str], env: dict[str, str], runs: int,
            prepare: Callable[[], None] = lambda: None) -> Medians:  # fmt: skip
    """Medians (seconds) of ``mine`` and ``base``, run alternately, after 3 warm-ups each."""
    times: dict[str, list[tuple[float, float]]] = {"mine": [], "base": []}
    for i in range(runs + 3):
        order = [("mine", mine, prepare), ("base", base, lambda: None)]
        for label, command, prep in order if i % 2 else order[::-1]:
            measured = one_run(command, env, prep)
            if i >= 3:
                times[label].append(measured)

    def med(label: str, k: int) -> float:
        return statistics.median(t[k] for t in times[label])

    return med("mine", 0), med("base", 0), med("mine", 1), med("base", 1)


def machine_env(root: Path, name: str, base: dict[str, str], store: str) -> dict[str, str]:
    return {**base, "OAUTHCLI_STATE_DIR": str(root / name / "state"), "OAUTHCLI_STORE": store}


def fleet_round(oauthcli: str, envs: list[dict[str, str]]) -> list[tuple[int, str]]:
    procs = [subprocess.Popen([oauthcli, "token", "rot"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for env in envs for _ in range(16)]  # fmt: skip
    return [(p.returncode, out) for p in procs for out, _ in [p.communicate(timeout=300)]]


Row = tuple[str, str, str, str, bool]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    python = os.environ.get("PYTHON", sys.executable)
    oauthcli = os.environ.get("OAUTHCLI") or str(Path(python).parent / "oauthcli")
    root = Path(tempfile.mkdtemp(prefix="oauthcli-bench-shared-"))
    redis, url = start_redis(root)
    fast, rot = TokenServer().start(), TokenServer(rotate=True).start()
    try:
        base = base_env(root, {"fast": fast.url, "rot": rot.url})
        rows = cached(oauthcli, [python, "-c", "pass"], root, base, url, args.runs)
        rows.append(
            fleet(oauthcli, rot, [machine_env(root, f"fleet{i}", base, url) for i in range(3)])
        )
    finally:
        fast.stop()
        rot.stop()
        redis.kill()
        redis.wait()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(rows)
    return 0 if all(r[4] for r in rows) else 1


def base_env(root: Path, urls: dict[str, str]) -> dict[str, str]:
    """A profiles file with one refresh-token profile per URL; the environment of every run."""
    profiles = {
        name: {"token_url": url, "retries": 0,
               "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                        "client_id": name},
               "refresh_token": f"${{env:OAUTHCLI_BENCH_RT:-rt-{name}-initial}}"}
        for name, url in urls.items()
    }  # fmt: skip
    config = root / "profiles.yaml"
    config.write_text(json.dumps({"profiles": profiles}))
    base = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base.update(OAUTHCLI_CONFIG=str(config), PYTHONPYCACHEPREFIX=str(root / "pycache"),
                XDG_STATE_HOME=str(root / "xdg"), XDG_CONFIG_HOME=str(root / "xdg"),
                NO_PROXY="127.0.0.1")  # fmt: skip
    return base


def cached(oauthcli: str, baseline: list[str], root: Path, base: dict[str, str], url: str,
           runs: int) -> list[Row]:  # fmt: skip
    """1-3: a cached `token` from Redis (local copy fresh, or checked), and from the file store."""
    env = machine_env(root, "m0", base, url)
    for command in (["refresh", "fast"], ["token", "fast"]):
        subprocess.run([oauthcli, *command], env=env, check=True, capture_output=True)

    def drop_copy() -> None:
        for copy in (root / "m0" / "state").glob(".copy-*"):
            copy.unlink()

    rows = []
    for label, prepare, target in (("fresh local copy", lambda: None, 2.5),
                                   ("checked against Redis", drop_copy, 4.0)):  # fmt: skip
        m = compare([oauthcli, "token", "fast"], baseline, env, runs, prepare)
        rows.append(_row(f"token, {label} (≤ {target}×)", m, target))
        print(rows[-1], flush=True)
    file_env = machine_env(root, "file", base, "file")
    subprocess.run([oauthcli, "refresh", "fast"], env=file_env, check=True, capture_output=True)
    m = compare([oauthcli, "token", "fast"], baseline, file_env, runs)
    rows.append(_row("token, file store (reference)", m, None))
    return rows


def fleet(oauthcli: str, rot: TokenServer, envs: list[dict[str, str]]) -> Row:
    """4: 3 machines × 16 `token` on one expired grant: exactly one request."""
    rot.expires_in = 1  # the grant's token expires before the round starts…
    subprocess.run([oauthcli, "refresh", "rot"], env=envs[0], check=True, capture_output=True)
    rot.expires_in = 3600  # …and the one the round obtains does not
    time.sleep(1.2)
    before = rot.count
    started = time.perf_counter()
    results = fleet_round(oauthcli, envs)
    wall = time.perf_counter() - started
    sent = rot.count - before
    ok = sent == 1 and all(rc == 0 for rc, _ in results) and len({o for _, o in results}) == 1
    return ("3 machines × 16 token, expired", f"{sent} request(s)", f"{wall:.1f} s wall",
            f"rejected {rot.rejected}", ok and rot.rejected == 0)  # fmt: skip


def print_table(rows: list[Row]) -> None:
    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'oauthcli':>12}  {'baseline':>12}  {'ratio':>18}  result")
    for name, mine_s, base_s, ratio_s, good in rows:
        verdict = "ok" if good else "FAIL"
        print(f"{name:<{width}}  {mine_s:>12}  {base_s:>12}  {ratio_s:>18}  {verdict}")
    print("ratio: of median wall times (of median CPU times); baseline: python -c pass")


def _row(name: str, m: Medians, target: float | None) -> Row:
    wall, cpu = m[0] / m[1], m[2] / m[3]
    good = target is None or wall <= target
    return (name, f"{m[0] * 1000:.0f} ms", f"{m[1] * 1000:.0f} ms",
            f"{wall:.2f}× ({cpu:.2f}×)", good)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
