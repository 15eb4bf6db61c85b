"""Wall time of commands (hyperfine, else a small Python harness) and peak memory (wait4)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class CommandFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Stats:
    """Seconds: wall time (median, spread) and CPU time (user + system, mean) per run."""

    median: float
    stddev: float
    low: float
    high: float
    runs: int
    cpu: float

    @classmethod
    def of(cls, times: Sequence[float], cpu: float) -> Stats:
        spread = statistics.stdev(times) if len(times) > 1 else 0.0
        return cls(statistics.median(times), spread, min(times), max(times), len(times), cpu)

    def ms(self) -> str:
        return f"{self.median * 1000:.0f} ms ±{self.stddev * 1000:.0f}"

    def s(self) -> str:
        return f"{self.median:.2f} s ±{self.stddev:.2f}"


class Timer:
    """Median and spread of whole-process wall times; hyperfine when available.

    The commands compared are run in alternating blocks of about six runs (A B, then B A, …)
    and each one's times pooled, so that load from elsewhere drifting during the run weighs on
    both sides alike (three long blocks left ratios off by up to 10 % on this machine).
    """

    def __init__(
        self, runs: int, warmup: int, use_hyperfine: bool, log_dir: str, block: int = 6
    ) -> None:
        self.runs = runs
        self.warmup = warmup
        self.block = block  # runs per block: short blocks follow the drift closely
        self.hyperfine = shutil.which("hyperfine") if use_hyperfine else None
        self.log_dir = log_dir
        self._n = 0

    @property
    def tool(self) -> str:
        return "hyperfine" if self.hyperfine else "python harness (hyperfine not found)"

    def measure(
        self,
        commands: Mapping[str, Sequence[str]],
        env: Mapping[str, str],
        runs: int | None = None,
        warmup: int | None = None,
        prepare: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, Stats]:
        """Per label: wall and CPU time; ``prepare[label]`` runs (untimed) before each run."""
        runs = self.runs if runs is None else runs
        warmup = self.warmup if warmup is None else warmup
        prepare = prepare or {}
        if not self.hyperfine:
            return _harness(commands, env, runs, warmup, prepare)
        blocks = max(1, runs // self.block)
        pooled: dict[str, list[tuple[list[float], float]]] = {label: [] for label in commands}
        labels = list(commands)
        for block in range(blocks):
            order = labels if block % 2 == 0 else labels[::-1]
            share = runs // blocks + (1 if block < runs % blocks else 0)
            found = self._hyperfine(
                {label: commands[label] for label in order}, env, share,
                warmup if block == 0 else 1, prepare,
            )  # fmt: skip
            for label, result in found.items():
                pooled[label].append(result)
        return {label: _pool(results) for label, results in pooled.items()}

    def _hyperfine(
        self, commands: Mapping[str, Sequence[str]], env: Mapping[str, str], runs: int,
        warmup: int, prepare: Mapping[str, Sequence[str]],
    ) -> dict[str, tuple[list[float], float]]:  # fmt: skip
        """Per command: the wall times of the runs, and the mean CPU time per run."""
        assert self.hyperfine
        self._n += 1
        export = os.path.join(self.log_dir, f"hyperfine-{self._n}.json")
        argv = [self.hyperfine, "-N", "--style", "basic", "--warmup", str(warmup),
                "--runs", str(runs), "--export-json", export]  # fmt: skip
        for label in commands if prepare else ():  # one --prepare per command, in order
            argv += ["--prepare", shlex.join(prepare.get(label, ["true"]))]
        for label, command in commands.items():
            argv += ["--command-name", label, shlex.join(command)]
        log = os.path.join(self.log_dir, f"hyperfine-{self._n}.log")
        with open(log, "w") as out:
            done = subprocess.run(argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            with open(log) as text:
                raise CommandFailed(f"hyperfine failed:\n{text.read()[-2000:]}")
        with open(export) as handle:
            results = json.load(handle)["results"]
        return {r["command"]: (r["times"], r["user"] + r["system"]) for r in results}


def _pool(results: list[tuple[list[float], float]]) -> Stats:
    times = [t for block, _ in results for t in block]
    cpu = sum(c * len(block) for block, c in results) / len(times)
    return Stats.of(times, cpu)


def run_checked(command: Sequence[str], env: Mapping[str, str]) -> str:
    done = subprocess.run(command, env=dict(env), capture_output=True, text=True)
    if done.returncode != 0:
        raise CommandFailed(
            f"{shlex.join(command)} exited {done.returncode}:\n{done.stderr.strip()[-2000:]}"
        )
    return done.stdout


def _harness(
    commands: Mapping[str, Sequence[str]], env: Mapping[str, str], runs: int, warmup: int,
    prepare: Mapping[str, Sequence[str]],
) -> dict[str, Stats]:  # fmt: skip
    """The fallback: warm up, then alternate the commands run by run (drift hits all alike)."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(warmup):
        for command in commands.values():
            _timed(command, env)
    for _ in range(runs):
        for label, command in commands.items():
            if label in prepare:
                subprocess.run(prepare[label], env=dict(env), check=True)
            elapsed, used = _timed(command, env)
            times[label].append(elapsed)
            cpu[label].append(used)
    return {label: Stats.of(times[label], statistics.mean(cpu[label])) for label in commands}


def _timed(command: Sequence[str], env: Mapping[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errors)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace").strip()[-2000:]
            raise CommandFailed(f"{shlex.join(command)} exited {proc.returncode}:\n{text}")
    return elapsed, usage.ru_utime + usage.ru_stime


def max_rss_kib(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Peak resident set size of one run of ``command`` (its own, via wait4)."""
    proc = subprocess.Popen(
        command,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise CommandFailed(f"{shlex.join(command)} exited {proc.returncode}")
    return int(usage.ru_maxrss)  # KiB on Linux


def median_rss_mib(command: Sequence[str], env: Mapping[str, str], runs: int) -> float:
    return statistics.median(max_rss_kib(command, env) for _ in range(runs)) / 1024


def new_log_dir(parent: str) -> str:
    return tempfile.mkdtemp(prefix="logs-", dir=parent)
