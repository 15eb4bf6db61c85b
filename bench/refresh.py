"""SPEC §8, the paths that reach the endpoint: one `refresh` against a bare requests.post,
`refresh --all` of 10, 50 and 200 profiles against an endpoint that answers after 200 ms, and
16 processes on one expired profile (exactly one request)."""

from __future__ import annotations

import statistics
import subprocess
import threading
import time

from context import Bench, Row
from timing import Stats

REFRESH_TARGET = 1.10  # × requests.post
ALL_SIZES = (10, 50, 200)
ALL_TARGET = 1.0  # seconds, for the largest size
CONCURRENT = 16


def single_refresh(b: Bench) -> None:
    env = b.env()
    stats = b.timer.measure({"base": b.requests_post(), "refresh": b.cli("refresh", "fast")}, env)
    b.ratio_row("refresh (1 profile), median", stats["refresh"], stats["base"], REFRESH_TARGET,
                "requests.post")  # fmt: skip


def refresh_all(b: Bench) -> None:
    """`refresh --all` per size; each run must send exactly one request per profile."""
    server = b.servers["slow"]
    runs = max(5, b.timer.runs // 4)
    found: dict[int, Stats] = {}
    for size in ALL_SIZES:
        label = f"all{size}"
        b.profiles(label, {f"a{i}": "slow" for i in range(size)})
        env = b.env(label)
        before = server.count
        found[size] = b.timer.measure({"all": b.cli("refresh", "--all")}, env, runs=runs,
                                      warmup=1)["all"]  # fmt: skip
        sent, expected = server.count - before, (runs + 1) * size
        if sent != expected:
            b.notes.append(f"refresh --all {size}: {sent} requests, not {expected}")
        top = size == ALL_SIZES[-1]
        ok = (found[size].median <= ALL_TARGET and sent == expected) if top else None
        b.rows.append(Row(f"refresh --all, {size} profiles × 200 ms endpoint", found[size].s(),
                          cpu=f"{found[size].cpu:.2f} s CPU",
                          target=f"≤ {ALL_TARGET} s" if top else "—", ok=ok))  # fmt: skip
    _growth(b, found)


def _growth(b: Bench, found: dict[int, Stats]) -> None:
    """Linear at most: the marginal cost per profile must not rise with the number of profiles."""
    (s0, s1, s2) = ALL_SIZES
    first = (found[s1].median - found[s0].median) / (s1 - s0)
    second = (found[s2].median - found[s1].median) / (s2 - s1)
    cpu_first = (found[s1].cpu - found[s0].cpu) / (s1 - s0)
    cpu_second = (found[s2].cpu - found[s1].cpu) / (s2 - s1)
    ok = second <= 1.5 * max(first, 0.0) + 0.001  # 1 ms/profile of slack for noise
    b.rows.append(Row(f"refresh --all growth per profile, {s0}→{s1} vs {s1}→{s2}",
                      f"{first * 1000:.1f} vs {second * 1000:.1f} ms wall",
                      cpu=f"{cpu_first * 1000:.1f} vs {cpu_second * 1000:.1f} ms",
                      target="not rising", ok=ok))  # fmt: skip


def concurrent_token(b: Bench) -> None:
    """16 × `token rot` at once on an expired grant, ``rounds`` times: one request each round."""
    env = b.env()
    server = b.servers["rotating"]
    counts, slowest, failures = [], [], []
    for _ in range(b.rounds):
        server.expires_in = 1  # a token that expires before the round starts…
        b.run(b.cli("refresh", "rot"), env)
        server.expires_in = 3600  # …and the one the round obtains does not
        time.sleep(1.1)
        before = server.count
        wall, outputs = concurrently([b.cli("token", "rot")] * CONCURRENT, env)
        counts.append(server.count - before)
        slowest.append(wall)
        failures += [o for o in outputs if o[0] != 0]
        if len({o[1] for o in outputs}) != 1:
            failures.append((-1, "different tokens", ""))
    for code, _, err in failures[:3]:
        b.notes.append(f"concurrent token: a process exited {code}: {err.strip()[-300:]}")
    ok = all(c == 1 for c in counts) and not failures and server.rejected == 0
    name = f"{CONCURRENT} × token, one expired profile"
    b.rows.append(Row(f"{name}: requests at endpoint", ",".join(map(str, counts)),
                      target="1 per round", ok=ok))  # fmt: skip
    b.rows.append(Row(f"{name}: slowest process",
                      f"{statistics.median(slowest):.2f} s (max {max(slowest):.2f})"))  # fmt: skip
    if server.rejected:
        b.notes.append(f"rotating endpoint rejected {server.rejected} stale refresh token(s)")


def concurrently(
    commands: list[list[str]], envs: list[dict[str, str]] | dict[str, str]
) -> tuple[float, list[tuple[int, str, str]]]:
    """Start every command at once; the slowest's wall time and each (rc, stdout, stderr)."""
    each = envs if isinstance(envs, list) else [envs] * len(commands)
    results: list[tuple[int, str, str]] = [(0, "", "")] * len(commands)
    elapsed = [0.0] * len(commands)
    gate = threading.Barrier(len(commands))

    def one(i: int) -> None:
        gate.wait()
        start = time.perf_counter()
        done = subprocess.run(commands[i], env=each[i], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)  # fmt: skip
        elapsed[i] = time.perf_counter() - start
        results[i] = (done.returncode, done.stdout, done.stderr)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(elapsed), results
