"""Parse ``python -X importtime`` logs: what a run imported, and what it cost.

Each log line reads ``import time: SELF_US | CUMULATIVE_US | <indent>module``; the indent is
the nesting depth. Only modules imported during the run appear (so this is the run's share of
``sys.modules`` beyond what the interpreter loads before ``site``).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")

FORBIDDEN_ON_CACHED_PATH = ("requests", "rich", "jwt", "urllib3", "filelock")


@dataclass(frozen=True)
class Entry:
    module: str
    self_us: int
    cumulative_us: int
    depth: int

    @property
    def package(self) -> str:
        return self.module.split(".")[0]


def parse(log: str) -> list[Entry]:
    entries = []
    for line in log.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative, indent, module = match.groups()
            entries.append(Entry(module, int(self_us), int(cumulative), len(indent) // 2))
    return entries


def modules(entries: Iterable[Entry]) -> set[str]:
    return {e.module for e in entries}


def forbidden(
    entries: Iterable[Entry], names: Iterable[str] = FORBIDDEN_ON_CACHED_PATH
) -> list[str]:
    """Modules of the forbidden packages (``rich`` and ``rich.console`` both count)."""
    wanted = set(names)
    return sorted({e.module for e in entries if e.package in wanted})


def total_ms(entries: Iterable[Entry]) -> float:
    return sum(e.self_us for e in entries) / 1000


def by_package(entries: Iterable[Entry]) -> dict[str, float]:
    """Milliseconds of self time per top-level package."""
    totals: dict[str, float] = defaultdict(float)
    for entry in entries:
        totals[entry.package] += entry.self_us / 1000
    return dict(totals)


def third_party(entries: Iterable[Entry]) -> dict[str, float]:
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    return {
        package: ms
        for package, ms in by_package(entries).items()
        if package not in stdlib
        and not package.startswith("_")
        and package != "oauthcli"
        and ms >= 0.5
    }


def beyond(entries: Iterable[Entry], baseline: Iterable[Entry]) -> list[Entry]:
    """Modules the run imported that the baseline did not, costliest (self time) first."""
    known = modules(baseline)
    return sorted((e for e in entries if e.module not in known), key=lambda e: -e.self_us)


def top_cumulative(entries: Iterable[Entry], count: int = 15) -> list[Entry]:
    return sorted(entries, key=lambda e: e.cumulative_us, reverse=True)[:count]


def report(name: str, entries: list[Entry], baseline: list[Entry] | None = None) -> str:
    """A text summary: totals, top imports by cumulative time, extra packages vs a baseline."""
    lines = [
        f"{name}: {len(entries)} modules imported, {total_ms(entries):.0f} ms self time in total"
    ]
    lines.append("  top imports by cumulative time:")
    for entry in top_cumulative(entries):
        lines.append(
            f"    {entry.cumulative_us / 1000:7.1f} ms  {'  ' * entry.depth}{entry.module}"
        )
    packages = third_party(entries)
    lines.append("  third-party packages loaded: " + _packages(packages))
    if baseline is not None:
        base = set(by_package(baseline))
        extra = {p: ms for p, ms in packages.items() if p not in base}
        lines.append("  third-party beyond the baseline: " + (_packages(extra) or "nothing"))
        more = beyond(entries, baseline)
        lines.append(
            f"  every module beyond the baseline: {len(more)}, {total_ms(more):.0f} ms self time; "
            "costliest: " + ", ".join(f"{e.module} {e.self_us / 1000:.1f}" for e in more[:12])
        )
    own = sorted(e.module for e in entries if e.package == "oauthcli")
    lines.append(f"  oauthcli modules ({len(own)}): " + ", ".join(m[9:] or "oauthcli" for m in own))
    return "\n".join(lines)


def _packages(packages: dict[str, float]) -> str:
    ordered = sorted(packages.items(), key=lambda item: item[1], reverse=True)
    return ", ".join(f"{p} ({ms:.0f} ms)" for p, ms in ordered)


def route_modules(entries: list[Entry], baseline: list[Entry]) -> str:
    """Who pays for what beyond ``baseline``: each top-level import with its cumulative time
    (the console script's own ``import re`` shows here too), then every oauthcli module."""
    known = modules(baseline)
    lines = ["  top-level imports beyond python -c pass (cumulative, with what they pulled in):"]
    group: list[Entry] = []
    for entry in entries:  # a module is logged after the modules it imported
        group.append(entry)
        if entry.depth == 0:
            if entry.module not in known:
                pulled = sorted(e.module for e in group[:-1] if e.module not in known)
                lines.append(
                    f"    {entry.cumulative_us / 1000:7.1f} ms  {entry.module}"
                    + (
                        f" ({len(pulled)}: {', '.join(pulled[:14])}"
                        f"{' …' if len(pulled) > 14 else ''})"
                        if pulled
                        else ""
                    )
                )
            group = []
    own = [e for e in entries if e.package == "oauthcli"]
    lines.append(
        f"  oauthcli modules ({len(own)}, {total_ms(own):.1f} ms self): "
        + ", ".join(f"{e.module} {e.self_us / 1000:.1f}" for e in own)
    )
    return "\n".join(lines)
