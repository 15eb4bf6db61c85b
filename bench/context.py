"""What every measurement shares: the temporary world (profiles files, state dirs, endpoints),
the environment of each run, and the rows of the table (bench/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from timing import CommandFailed, Stats, Timer, run_checked
from tokenserver import TokenServer

RT_VARIABLE = "OAUTHCLI_BENCH_RT"  # the profiles take their refresh token from it (a reference)


@dataclass
class Row:
    measurement: str
    oauthcli: str
    baseline: str = "—"
    ratio: str = "—"  # of median wall times
    cpu: str = "—"  # of mean CPU times (user + system): steadier on a loaded machine
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
    rounds: int = 5
    rss_runs: int = 5
    quick: bool = False  # fewer runs of the slow peers and sizes
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    servers: dict[str, TokenServer] = field(default_factory=dict)
    stop_callbacks: list[object] = field(default_factory=list)

    def start(self) -> None:
        self.servers = {"fast": TokenServer().start(), "slow": TokenServer(delay=0.2).start(),
                        "rotating": TokenServer(rotate=True).start()}  # fmt: skip
        self.profiles("main", {"fast": "fast", "rot": "rotating", "fleet": "rotating"})

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        for stop in reversed(self.stop_callbacks):
            stop()  # type: ignore[operator]

    # --- files and environments ----------------------------------------------------------

    def profiles(self, label: str, servers: Mapping[str, str]) -> Path:
        """A profiles file ``<label>.yaml`` (profile name → server name) and its state dir."""
        path = self.workdir / f"{label}.yaml"
        profiles = {name: profile(name, self.servers[server].url)
                    for name, server in servers.items()}  # fmt: skip
        path.write_text(json.dumps({"profiles": profiles}, indent=1) + "\n")  # JSON is YAML
        return path

    def env(self, label: str = "main", **extra: str) -> dict[str, str]:
        """The environment of a run against ``<label>.yaml`` and ``state-<label>/``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHCLI_")}
        for name in ("PYTHONIMPORTTIME", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE",
                     "GITHUB_ACTIONS", "KUBERNETES_EXEC_INFO"):  # fmt: skip
            env.pop(name, None)
        xdg = self.workdir / "xdg"
        env.update(
            # Steady state: bytecode is compiled once and cached in the temp dir, even where
            # the caller's environment says PYTHONDONTWRITEBYTECODE.
            PYTHONPYCACHEPREFIX=str(self.workdir / "pycache"),
            OAUTHCLI_CONFIG=str(self.workdir / f"{label}.yaml"),
            OAUTHCLI_STATE_DIR=str(self.state_dir(label)),
            XDG_CONFIG_HOME=str(xdg / "config"), XDG_STATE_HOME=str(xdg / "state"),
            XDG_CACHE_HOME=str(xdg / "cache"), XDG_DATA_HOME=str(xdg / "data"),
            NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
            **{RT_VARIABLE: "rt-bench-initial"},
        )  # fmt: skip
        env.update(extra)
        return env

    def state_dir(self, label: str) -> Path:
        return self.workdir / f"state-{label}"

    def cli(self, *args: str) -> list[str]:
        return [self.oauthcli, *args]

    def py(self, code: str) -> list[str]:
        return [self.python, "-c", code]

    def run(self, command: Sequence[str], env: Mapping[str, str]) -> str:
        return run_checked(command, env)

    def requests_post(self, server: str = "fast", client: str = "fast") -> list[str]:
        """The refresh baseline: a minimal requests.post of the same form to the same endpoint."""
        url = self.servers[server].url
        data = {"grant_type": "refresh_token", "refresh_token": "rt-bench-initial",
                "client_id": client}  # fmt: skip
        return self.py(f"import requests; requests.post({url!r}, data={data!r})")

    # --- rows ----------------------------------------------------------------------------

    def ratio_row(self, name: str, mine: Stats, base: Stats, target: float | None,
                  base_name: str, sound: bool = True) -> float:  # fmt: skip
        """A row of the ratio of medians (wall), the CPU ratio beside it; ``sound`` False fails
        it whatever the ratio (the run did not do what it should)."""
        ratio, cpu = mine.median / base.median, mine.cpu / base.cpu
        ok = None if target is None else (ratio <= target and sound)
        self.rows.append(Row(name, mine.ms(), base.ms(), _ratio(ratio, target), f"{cpu:.2f}×",
                             f"≤ {target}×" if target else "—", ok))  # fmt: skip
        self.details.append(
            f"{name}: wall min–max {mine.low * 1000:.0f}–{mine.high * 1000:.0f} ms vs "
            f"{base.low * 1000:.0f}–{base.high * 1000:.0f} ms ({base_name}), {mine.runs} runs "
            f"each; CPU {mine.cpu * 1000:.1f} vs {base.cpu * 1000:.1f} ms"
        )
        return ratio

    def fail(self, name: str, why: str) -> None:
        self.rows.append(Row(name, "could not run", ok=False))
        self.notes.append(f"{name}: {why}")


def profile(name: str, url: str) -> dict[str, object]:
    """One refresh-token profile; the name doubles as the client_id. Secrets only by reference,
    as profiles.example.yaml has them: a literal one keeps the file from being cached."""
    return {"token_url": url, "retries": 0, "refresh_token": f"${{env:{RT_VARIABLE}}}",
            "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                     "client_id": name}}  # fmt: skip


def _ratio(value: float, target: float | None) -> str:
    """Two decimals, three where two would round onto the target and hide the verdict."""
    text = f"{value:.2f}"
    return (f"{value:.3f}" if target and float(text) == target else text) + "×"


def which(name: str) -> str | None:
    return shutil.which(name)


def quiet_run(argv: Sequence[str], env: Mapping[str, str], stdin: str = "",
              timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    try:
        return subprocess.run(list(argv), env=dict(env), input=stdin, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"{argv[0]}: {exc}") from None
