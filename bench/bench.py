"""The performance measurements of SPEC §8 and issue 16; run through ``bench/run``.

Every figure is a ratio to a baseline measured in the same run, by the same interpreter, in a
temporary directory (profiles files, state dirs, XDG dirs) against endpoints served by this
process on 127.0.0.1; the user's files are never read or written. See bench/README.md.
Exit status: 0 every target met, 1 a target failed, 2 the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cached
import peers
import refresh
import shared
from context import Bench, Row
from timing import CommandFailed, Timer, new_log_dir, run_checked

STEPS = {  # --only names → functions, in the order they run
    "imports": cached.imports,
    "cached": cached.cached_paths,
    "shared": shared.shared_store,
    "scaling": cached.scaling,
    "refresh": refresh.single_refresh,
    "all": refresh.refresh_all,
    "concurrent": refresh.concurrent_token,
    "memory": cached.peak_memory,
    "peers": peers.peers,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description="SPEC §8 performance gate.")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per command (≥ 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the concurrency tests")
    parser.add_argument("--rss-runs", type=int, default=5, help="runs per peak-memory figure")
    parser.add_argument("--no-hyperfine", action="store_true", help="use the Python harness")
    parser.add_argument("--importtime", action="store_true", help="only the import evidence")
    parser.add_argument("--only", metavar="STEPS", help=f"comma-separated: {', '.join(STEPS)}")
    parser.add_argument("--skip", metavar="STEPS", help="comma-separated steps to leave out")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    for option in (args.only, args.skip):
        unknown = set((option or "").split(",")) - set(STEPS) - {""}
        if unknown:
            parser.error(f"unknown step(s) {', '.join(sorted(unknown))}; from {', '.join(STEPS)}")
    if args.runs < 20:
        parser.error("--runs must be at least 20 (SPEC §8 medians are over ≥ 20 runs)")
    return args


def find_oauthcli(python: str) -> str:
    """$OAUTHCLI, else the console script next to the interpreter, else the one on PATH."""
    beside = Path(python).parent / "oauthcli"
    found = os.environ.get("OAUTHCLI") or (str(beside) if beside.is_file() else None)
    found = found or shutil.which("oauthcli")
    if not found:
        sys.exit("bench: no oauthcli next to the interpreter nor on PATH; set PYTHON or OAUTHCLI")
    return found


def install_notes(python: str, script: str) -> list[str]:
    """An editable install or a script of another interpreter makes the figures unfair."""
    notes = []
    with open(script, "rb") as handle:
        first = handle.readline().decode("utf-8", "replace")
    shebang = first[2:].strip().split()[0] if first.startswith("#!") else python
    if os.path.realpath(os.path.dirname(shebang)) != os.path.realpath(os.path.dirname(python)):
        notes.append(f"interpreter mismatch: {script} runs under {shebang}, baselines under "
                     f"{python}")  # fmt: skip
    code = ("import importlib.metadata as m; d = m.distribution('oauthcli'); "
            "print(d.read_text('direct_url.json') or '{}')")  # fmt: skip
    done = run_checked([python, "-c", code], os.environ)
    if json.loads(done or "{}").get("dir_info", {}).get("editable"):
        notes.append(
            "an EDITABLE install: its import hook slows every start (baselines too); "
            "SPEC §8 figures need a regular install (pip install /path/to/oauthcli)"
        )
    return notes


def header(b: Bench, load: tuple[float, float, float]) -> str:
    version = run_checked(b.cli("--version"), b.env()).strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor() or "?")  # fmt: skip
    now = datetime.datetime.now(datetime.timezone.utc)
    return "\n".join([
        f"date: {now:%Y-%m-%d %H:%M UTC}",
        f"machine: {platform.platform()}, {cpu}, nproc {os.cpu_count()}",
        f"load average at start: {' '.join(f'{x:.2f}' for x in load)}",
        f"python: {b.python} ({platform.python_implementation()} {platform.python_version()})",
        f"oauthcli: {b.oauthcli} ({version})",
        f"timing: {b.timer.tool}, {b.timer.runs} runs after {b.timer.warmup} warmup, the "
        "commands of a comparison in alternating blocks; ratio = of medians (wall), "
        "cpu = of mean user+system time",
    ])  # fmt: skip


def table(rows: list[Row]) -> str:
    head = ("measurement", "oauthcli", "baseline", "ratio", "cpu", "target", "result")
    cells = [head] + [(r.measurement, r.oauthcli, r.baseline, r.ratio, r.cpu, r.target,
                       r.verdict) for r in rows]  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    fmt = " | ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt.format(*cells[0]), "-+-".join("-" * w for w in widths)]
    return "\n".join(lines + [fmt.format(*c) for c in cells[1:]])


def run_steps(b: Bench, names: list[str]) -> str:
    """Run the measurements; a step that cannot run is a failed row, not a crash."""
    evidence = ""
    for name in names:
        print(f"running: {name} …", file=sys.stderr, flush=True)
        try:
            result = STEPS[name](b)
        except CommandFailed as exc:
            b.fail(name, str(exc))
            continue
        evidence = result if isinstance(result, str) else evidence
    return evidence


def report(b: Bench, evidence: str) -> int:
    if evidence:
        print("\n" + evidence)
    print("\n" + table(b.rows))
    for line in b.details:
        print("detail: " + line)
    load = os.getloadavg()
    b.notes.append(f"load average at the end: {' '.join(f'{x:.2f}' for x in load)}"
                   + (f" > {os.cpu_count()} CPUs: other work competed for the CPUs; the wall "
                      "times stretch, the cpu ratios much less" if load[0] > (os.cpu_count() or 1)
                      else ""))  # fmt: skip
    for note in b.notes:
        print("note: " + note)
    return sum(1 for r in b.rows if r.ok is False)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    python, started, load = sys.executable, time.perf_counter(), os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="oauthcli-bench-"))
    timer = Timer(args.runs, args.warmup, not args.no_hyperfine, new_log_dir(str(workdir)))
    b = Bench(python, find_oauthcli(python), workdir, timer, args.rounds, args.rss_runs)
    wanted = ["imports"] if args.importtime else (args.only or ",".join(STEPS)).split(",")
    skipped = set((args.skip or "").split(","))
    try:
        b.start()
        try:
            for command in (b.cli("refresh", "fast"), b.cli("token", "fast"), b.py("pass")):
                run_checked(command, b.env())  # bytecode compiled before anything is timed
        except CommandFailed as exc:
            print(f"bench: oauthcli does not work here, nothing measured:\n{exc}", file=sys.stderr)
            return 2
        print(header(b, load), flush=True)
        b.notes += install_notes(python, b.oauthcli)
        evidence = run_steps(b, [n for n in STEPS if n in wanted and n not in skipped])
    finally:
        b.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = report(b, evidence)
    verdict = f"{failed} target(s) failed" if failed else "all targets met"
    kept = f" (kept {workdir})" if args.keep else ""
    print(f"\n{verdict} in {time.perf_counter() - started:.0f} s{kept}")
    if args.json:
        rows = [r.__dict__ | {"result": r.verdict} for r in b.rows]
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
