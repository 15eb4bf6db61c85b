"""The performance measurements of SPEC §8; run through ``bench/run`` (see bench/README.md).

Everything happens in a temporary directory (profiles file, state dir, XDG dirs) against token
endpoints served by this process on 127.0.0.1; the user's files are never read or written.
Exit status: 0 every target met, 1 a target failed, 2 the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import importtime
from timing import CommandFailed, Stats, Timer, median_rss_mib, new_log_dir, run_checked
from tokenserver import TokenServer

SLOW_PROFILES = 50
SLOW_DELAY = 0.2
CONCURRENT = 16
STEPS = {  # --only names → Bench methods, in the order they run
    "imports": "imports",
    "token": "cached_token",
    "refresh": "single_refresh",
    "all": "refresh_all",
    "concurrent": "concurrent_token",
    "memory": "peak_memory",
}


@dataclass
class Row:
    measurement: str
    oauthcli: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    ok: bool | None = None  # None: for information, no target

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "info"}[self.ok]


@dataclass
class Bench:
    python: str
    oauthcli: str
    workdir: Path
    timer: Timer
    rounds: int
    rss_runs: int
    all_runs: int = 10
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    servers: dict[str, TokenServer] = field(default_factory=dict)

    # -- setup -----------------------------------------------------------------------------

    def start(self) -> None:
        self.servers = {
            "fast": TokenServer().start(),
            "slow": TokenServer(delay=SLOW_DELAY).start(),
            "rotating": TokenServer(rotate=True).start(),
        }
        self.main_config = self.workdir / "profiles.yaml"
        self.slow_config = self.workdir / "slow.yaml"
        self.state_dir = self.workdir / "state"
        main = {"fast": self.servers["fast"].url, "rot": self.servers["rotating"].url}
        slow = {f"slow{i}": self.servers["slow"].url for i in range(SLOW_PROFILES)}
        _write_profiles(self.main_config, main)
        _write_profiles(self.slow_config, slow)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def env(self, config: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
        for name in ("PYTHONIMPORTTIME", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        xdg = self.workdir / "xdg"
        env.update(
            # Steady state: bytecode is compiled once (by prime) and cached in the temp dir,
            # even where the caller's environment says PYTHONDONTWRITEBYTECODE.
            PYTHONPYCACHEPREFIX=str(self.workdir / "pycache"),
            OAUTHCLI_CONFIG=str(config or self.main_config),
            OAUTHCLI_STATE_DIR=str(self.state_dir),
            XDG_CONFIG_HOME=str(xdg / "config"),
            XDG_STATE_HOME=str(xdg / "state"),
            XDG_CACHE_HOME=str(xdg / "cache"),
            XDG_DATA_HOME=str(xdg / "data"),
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        return env

    def cli(self, *args: str) -> list[str]:
        return [self.oauthcli, *args]

    def py(self, code: str) -> list[str]:
        return [self.python, "-c", code]

    def requests_baseline(self) -> list[str]:
        url = self.servers["fast"].url
        data = {"grant_type": "refresh_token", "refresh_token": "rt-fast", "client_id": "fast"}
        return self.py(f"import requests; requests.post({url!r}, data={data!r})")

    def prime(self) -> None:
        """Run every measured command once, so bytecode is compiled before anything is timed."""
        env = self.env()
        commands = [self.cli("--version"), self.cli("refresh", "fast"), self.cli("token", "fast")]
        for command in [*commands, self.py("import typer, yaml"), self.requests_baseline()]:
            run_checked(command, env)
        run_checked(self.cli("refresh", "slow0"), self.env(self.slow_config))

    # -- measurements ----------------------------------------------------------------------

    def cached_token(self) -> None:
        """1. `token` answered from the store vs `python -c "import typer, yaml"`."""
        env = self.env()
        first = run_checked(self.cli("refresh", "fast"), env).strip()
        before = self.servers["fast"].count
        again = run_checked(self.cli("token", "fast"), env).strip()
        mine, base = self._pair(self.cli("token", "fast"), self.py("import typer, yaml"), env)
        sent = self.servers["fast"].count - before
        if sent or first != again:
            self.notes.append(f"cached token: {sent} request(s) reached the endpoint; expected 0")
        self._ratio_row("token (cached), median", mine, base, 1.2, sent == 0 and first == again)

    def single_refresh(self) -> None:
        """2. `refresh P` vs a minimal requests.post of the same request to the same endpoint."""
        env = self.env()
        mine, base = self._pair(self.cli("refresh", "fast"), self.requests_baseline(), env)
        self._ratio_row("refresh (1 profile), median", mine, base, 1.3)

    def refresh_all(self) -> None:
        """3. `refresh --all` of 50 profiles against a 200 ms endpoint; 50 × one for reference."""
        env = self.env(self.slow_config)
        runs = self.all_runs
        before = self.servers["slow"].count
        commands = {"all": self.cli("refresh", "--all"), "one": self.cli("refresh", "slow0")}
        stats = self.timer.measure(commands, env, runs=runs, warmup=1)
        sent = self.servers["slow"].count - before
        expected = (runs + 1) * (SLOW_PROFILES + 1)
        if sent != expected:
            self.notes.append(
                f"refresh --all: {sent} requests reached the endpoint, not {expected}"
            )
        total, one = stats["all"], stats["one"]
        sequential = one.median * SLOW_PROFILES
        name = f"refresh --all, {SLOW_PROFILES} profiles × {SLOW_DELAY * 1000:.0f} ms endpoint"
        ok = total.median <= 1.5 and sent == expected
        ratio = f"{total.median / sequential:.2f}×"
        self.rows.append(Row(name, total.s(), f"{sequential:.1f} s seq.", ratio, "≤ 1.5 s", ok))
        self.details.append(
            f"refresh --all: wall min–max {total.low:.2f}–{total.high:.2f} s over {total.runs} "
            f"runs, CPU (user+sys) {total.cpu:.2f} s; baseline = {SLOW_PROFILES} × the median "
            f"of one `refresh slow0` ({one.ms()})"
        )

    def concurrent_token(self) -> None:
        """4. 16 processes run `token` on one expired profile at once: one request, rounds times."""
        env = self.env()
        server = self.servers["rotating"]
        counts: list[int] = []
        slowest: list[float] = []
        failures: list[tuple[int, str, str]] = []
        for _ in range(self.rounds):
            server.expires_in = 1  # stored with 1 s left: stale for min_valid 60
            run_checked(self.cli("refresh", "rot"), env)
            server.expires_in = 3600
            before = server.count
            wall, outputs = _concurrently([self.cli("token", "rot")] * CONCURRENT, env)
            counts.append(server.count - before)
            slowest.append(wall)
            failures += [o for o in outputs if o[0] != 0]
            if len({o[1] for o in outputs}) != 1:
                self.notes.append("concurrent token: the processes printed different tokens")
                failures.append((-1, "different tokens", ""))
        for code, _, err in failures[:3]:
            self.notes.append(f"concurrent token: a process exited {code}: {err.strip()[-300:]}")
        if server.rejected:
            self.notes.append(
                f"rotating endpoint rejected {server.rejected} stale refresh token(s)"
            )
        ok = all(c == 1 for c in counts) and not failures and server.rejected == 0
        name = f"{CONCURRENT} × token, one expired profile"
        counted = ",".join(map(str, counts))
        self.rows.append(Row(f"{name}: requests at endpoint", counted, target="1/round", ok=ok))
        spread = f"{statistics.median(slowest):.2f} s (max {max(slowest):.2f})"
        self.rows.append(Row(f"{name}: slowest process", spread))
        self.details.append(
            f"{name}: {self.rounds} rounds; slowest process per round "
            + ", ".join(f"{s:.2f}" for s in slowest)
            + " s; all exited 0 and printed the same token" * (not failures)
        )

    def peak_memory(self) -> None:
        """5. Max RSS of `token` and `refresh`, against the same baselines as 1 and 2."""
        env = self.env()
        pairs = [
            ("peak RSS, token (cached)", self.cli("token", "fast"), self.py("import typer, yaml")),
            ("peak RSS, refresh", self.cli("refresh", "fast"), self.requests_baseline()),
        ]
        for name, command, baseline in pairs:
            mine = median_rss_mib(command, env, self.rss_runs)
            base = median_rss_mib(baseline, env, self.rss_runs)
            self.rows.append(Row(name, f"{mine:.1f} MiB", f"{base:.1f} MiB", f"{mine / base:.2f}×"))

    def imports(self) -> str:
        """What the real console script imports on the cached `token` path (and on `refresh`)."""
        env = self.env()
        run_checked(self.cli("token", "fast"), env)  # make sure a fresh token is stored
        cached = self._importtime(["token", "fast"], env)
        refresh = self._importtime(["refresh", "fast"], env)
        base_token = self._importtime_code("import typer, yaml", env)
        base_refresh = self._importtime_code(self.requests_baseline()[2], env)
        bad = importtime.forbidden(cached)
        name = "token (cached) imports " + "/".join(importtime.FORBIDDEN_ON_CACHED_PATH)
        found = ", ".join(bad) if bad else "none of them"
        self.rows.append(Row(name, found, target="none", ok=not bad))
        reports = [
            importtime.report("oauthcli token (cached)", cached, base_token),
            importtime.report("python -c 'import typer, yaml' (baseline)", base_token),
            importtime.report("oauthcli refresh", refresh, base_refresh),
        ]
        return "\n\n".join(reports)

    # -- helpers ---------------------------------------------------------------------------

    def _importtime(self, args: Sequence[str], env: dict[str, str]) -> list[importtime.Entry]:
        # The console script is a Python file: run it with -X importtime under its interpreter.
        return self._importtime_argv([self.python, "-X", "importtime", self.oauthcli, *args], env)

    def _importtime_code(self, code: str, env: dict[str, str]) -> list[importtime.Entry]:
        return self._importtime_argv([self.python, "-X", "importtime", "-c", code], env)

    def _importtime_argv(self, argv: list[str], env: dict[str, str]) -> list[importtime.Entry]:
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise CommandFailed(
                f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}"
            )
        return importtime.parse(done.stderr)

    def _pair(self, mine: list[str], base: list[str], env: dict[str, str]) -> tuple[Stats, Stats]:
        stats = self.timer.measure({"oauthcli": mine, "baseline": base}, env)
        return stats["oauthcli"], stats["baseline"]

    def _ratio_row(
        self, name: str, mine: Stats, base: Stats, target: float, sound: bool = True
    ) -> None:
        """A ratio-of-medians row; ``sound`` False fails it whatever the ratio."""
        ratio = mine.median / base.median
        ok = ratio <= target and sound
        self.rows.append(Row(name, mine.ms(), base.ms(), _ratio(ratio, target), f"≤ {target}×", ok))
        self.details.append(
            f"{name}: wall min–max {mine.low * 1000:.0f}–{mine.high * 1000:.0f} ms vs "
            f"{base.low * 1000:.0f}–{base.high * 1000:.0f} ms over {mine.runs} runs each; "
            f"CPU (user+sys) {mine.cpu * 1000:.0f} ms vs {base.cpu * 1000:.0f} ms "
            f"= {mine.cpu / base.cpu:.2f}×"
        )


def _ratio(value: float, target: float) -> str:
    """Two decimals, three where two would round onto the target and hide the verdict."""
    text = f"{value:.2f}"
    return (f"{value:.3f}" if float(text) == target else text) + "×"


def _write_profiles(path: Path, urls: dict[str, str]) -> None:
    """One refresh-token profile per name; the name doubles as the client_id."""
    profiles = {
        name: {
            "token_url": url,
            "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                     "client_id": name},
            # a reference, as profiles.example.yaml does: a literal secret would keep the
            # profiles file from being cached, and every run would parse the YAML again
            "refresh_token": f"${{env:OAUTHCLI_BENCH_RT:-rt-{name}-initial}}",
            "retries": 0,
        }
        for name, url in urls.items()
    }  # fmt: skip
    path.write_text(json.dumps({"profiles": profiles}, indent=1) + "\n")  # JSON is YAML


def _concurrently(
    commands: list[list[str]], env: dict[str, str]
) -> tuple[float, list[tuple[int, str, str]]]:
    """Start every command at once; the slowest process's wall time, and (rc, stdout, stderr)s."""
    results: list[tuple[int, str, str]] = [(0, "", "")] * len(commands)
    elapsed = [0.0] * len(commands)
    gate = threading.Barrier(len(commands))

    def one(i: int) -> None:
        gate.wait()
        start = time.perf_counter()
        done = subprocess.run(commands[i], env=env, capture_output=True, text=True)
        elapsed[i] = time.perf_counter() - start
        results[i] = (done.returncode, done.stdout, done.stderr)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(elapsed), results


# -- output ------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = ("measurement", "oauthcli", "baseline", "ratio", "target", "result")
    cells = [header] + [
        (r.measurement, r.oauthcli, r.baseline, r.ratio, r.target, r.verdict) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    fmt = " | ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt.format(*cells[0]), "-+-".join("-" * w for w in widths)]
    lines += [fmt.format(*c) for c in cells[1:]]
    return "\n".join(lines)


def machine(bench: Bench) -> str:
    version = run_checked([bench.oauthcli, "--version"], bench.env()).strip()
    now = datetime.datetime.now(datetime.timezone.utc)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join([
        f"date: {now:%Y-%m-%d %H:%M UTC}",
        f"machine: {platform.platform()}, nproc {os.cpu_count()}, load average {load}",
        f"python: {bench.python} ({platform.python_version()})",
        f"oauthcli: {bench.oauthcli} ({version})",
        f"timing: {bench.timer.tool}, {bench.timer.runs} runs after {bench.timer.warmup} "
        f"warmup, the two sides alternating (refresh --all: {bench.all_runs} runs)",
    ])  # fmt: skip


# -- main --------------------------------------------------------------------------------------


def find_oauthcli(python: str) -> str:
    """$OAUTHCLI, else the console script next to the interpreter, else the one on PATH."""
    if os.environ.get("OAUTHCLI"):
        return os.environ["OAUTHCLI"]
    beside = Path(python).parent / "oauthcli"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("oauthcli")
    if not found:
        print(
            "bench: no oauthcli next to the interpreter nor on PATH; "
            "run with PYTHON=.venv/bin/python or set OAUTHCLI",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return found


def interpreter_mismatch(python: str, script: str) -> str | None:
    """A console script installed for another interpreter would make the baselines unfair."""
    with open(script, "rb") as handle:
        first = handle.readline().decode("utf-8", "replace")
    if not first.startswith("#!"):
        return None
    shebang = first[2:].strip().split()[0]
    # A venv is known by its bin directory (its pythons are symlinks to the base interpreter).
    if os.path.realpath(os.path.dirname(shebang)) != os.path.realpath(os.path.dirname(python)):
        return f"{script} runs under {shebang}, the baselines under {python}"
    return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description="SPEC §8 performance gate.")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per command (≥ 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the concurrency test")
    parser.add_argument("--rss-runs", type=int, default=5, help="runs per peak-memory figure")
    parser.add_argument("--no-hyperfine", action="store_true", help="use the Python harness")
    parser.add_argument("--importtime", action="store_true", help="only the import evidence")
    parser.add_argument(
        "--only", metavar="STEPS", help=f"comma-separated subset of: {', '.join(STEPS)}"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    unknown = set((args.only or "").split(",")) - set(STEPS) - {""}
    if unknown:
        parser.error(
            f"unknown step(s) {', '.join(sorted(unknown))}; choose from {', '.join(STEPS)}"
        )
    if args.runs < 20:
        parser.error("--runs must be at least 20 (SPEC §8 medians are over ≥ 20 runs)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    python = sys.executable
    oauthcli = find_oauthcli(python)
    workdir = Path(tempfile.mkdtemp(prefix="oauthcli-bench-"))
    timer = Timer(args.runs, args.warmup, not args.no_hyperfine, new_log_dir(str(workdir)))
    bench = Bench(python, oauthcli, workdir, timer, args.rounds, args.rss_runs)
    bench.all_runs = max(5, args.runs // 3)
    started = time.perf_counter()
    try:
        bench.start()
        try:
            bench.prime()
        except CommandFailed as exc:
            print(f"bench: oauthcli does not work here, nothing measured:\n{exc}", file=sys.stderr)
            return 2
        print(machine(bench), flush=True)
        mismatch = interpreter_mismatch(python, oauthcli)
        if mismatch:
            bench.notes.append("interpreter mismatch: " + mismatch)
        wanted = ["imports"] if args.importtime else (args.only or ",".join(STEPS)).split(",")
        evidence = run_steps(bench, [name for name in STEPS if name in wanted])
    finally:
        bench.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = report(bench, evidence)
    kept = f" (kept {workdir})" if args.keep else ""
    verdict = f"{failed} target(s) failed" if failed else "all targets met"
    print(f"\n{verdict} in {time.perf_counter() - started:.0f} s{kept}")
    if args.json:
        rows = [r.__dict__ | {"result": r.verdict} for r in bench.rows]
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    return 1 if failed else 0


def run_steps(bench: Bench, names: list[str]) -> str:
    """Run the measurements; a step that cannot run is a failed row, not a crash."""
    evidence = ""
    for name in names:
        _progress(f"running: {name} …")
        try:
            result = getattr(bench, STEPS[name])()
        except CommandFailed as exc:
            bench.rows.append(Row(name, "could not run", ok=False))
            bench.notes.append(f"{name}: {exc}")
            continue
        if isinstance(result, str):
            evidence = result
    return evidence


def report(bench: Bench, evidence: str) -> int:
    """Print the evidence, the table, details and notes; the number of failed targets."""
    if evidence:
        print("\n" + evidence)
    print("\n" + table(bench.rows))
    for line in bench.details:
        print("detail: " + line)
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        bench.notes.append(
            f"load average {load:.1f} > {os.cpu_count()} CPUs at the end: other work "
            "competed for the CPUs, timings are inflated (the ratios less so)"
        )
    for note in bench.notes:
        print("note: " + note)
    return sum(1 for r in bench.rows if r.ok is False)


def _progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
