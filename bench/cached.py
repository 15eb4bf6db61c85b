"""SPEC §8, the cached paths: `token` (and -f exec-credential), `git-credential get` and `env`
answered from the file store, against `python -c pass`; with 1, 100 and 1,000 profiles; peak
memory; and what the route imports (-X importtime of the real console script)."""

from __future__ import annotations

import subprocess

import importtime
from context import Bench, Row
from timing import CommandFailed, median_rss_mib

TARGET = 2.5  # × python -c pass, every cached path
MEMORY_TARGET = 1.3
SIZES = (1, 100, 1000)
ROUTE_PREFIX = "oauthcli.cached"


def cached_lines(b: Bench) -> dict[str, list[str]]:
    return {
        "token": b.cli("token", "fast"),
        "token -f exec-credential": b.cli("token", "fast", "-f", "exec-credential"),
        "git-credential get": b.cli("git-credential", "fast", "get"),  # stdin: /dev/null (EOF)
        "env": b.cli("env", "fast"),
    }


def cached_paths(b: Bench) -> None:
    """Each cached path, all in one alternating session with the baseline."""
    env = b.env()
    first = b.run(b.cli("refresh", "fast"), env).strip()
    server = b.servers["fast"]
    before = server.count
    lines = cached_lines(b)
    answered = [name for name, argv in lines.items() if _by_route(b, argv, env)]
    floors = _floors(b)
    stats = b.timer.measure({"base": b.py("pass"), **lines, **floors}, env)
    sent = server.count - before
    sound = sent == 0 and b.run(lines["token"], env).strip() == first
    if sent:
        b.notes.append(f"cached paths: {sent} request(s) reached the endpoint; expected none")
    for name in lines:
        b.ratio_row(f"{name} (cached), median", stats[name], stats["base"], TARGET,
                    "python -c pass", sound and name in answered)  # fmt: skip
    for name in floors:
        b.ratio_row(name, stats[name], stats["base"], None, "python -c pass")
    missing = sorted(set(lines) - set(answered))
    b.rows.append(Row("cached paths answered by the one route (oauthcli.cached)",
                      "all four" if not missing else "not: " + ", ".join(missing),
                      target="all", ok=not missing))  # fmt: skip


def _floors(b: Bench) -> dict[str, list[str]]:
    """For scale: what pip's console-script wrapper itself runs before oauthcli (``import re``
    and one re.sub), and SPEC §8's "script that only imports json, reads one file and prints"."""
    [state] = b.state_dir("main").glob("fast@*.json")
    wrapper = "import re, sys; re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])"
    script = (f"import json, sys; sys.stdout.write(json.load(open({str(state)!r}))"
              "['token']['access_token'] + '\\n')")  # fmt: skip
    return {"floor: pip's console-script wrapper alone": b.py(wrapper),
            "floor: import json, read one file, print": b.py(script)}  # fmt: skip


def _by_route(b: Bench, argv: list[str], env: dict[str, str]) -> bool:
    """Whether the run was answered by oauthcli.cached (the full path's World never loaded)."""
    entries = _importtime(b, argv[1:], env)
    found = importtime.modules(entries)
    return f"{ROUTE_PREFIX}.route" in found and "oauthcli.world" not in found


def scaling(b: Bench) -> None:
    """Cached `token` of the last profile of files with 1, 100, 1,000 profiles (as many states)."""
    commands, envs = {"base": b.py("pass")}, {}
    for size in SIZES:
        label = f"scale{size}"
        b.profiles(label, {f"s{i}": "fast" for i in range(size)})
        envs[size] = env = b.env(label)
        b.run(b.cli("refresh", "--all", "-f", "json"), env)
        stored = len(list(b.state_dir(label).glob("s*@*.json")))
        if stored != size:
            raise CommandFailed(f"{label}: {stored} states stored, not {size}")
        commands[str(size)] = b.cli("--config", env["OAUTHCLI_CONFIG"], "--state-dir",
                                    env["OAUTHCLI_STATE_DIR"], "token", f"s{size - 1}")  # fmt: skip
    stats = b.timer.measure(commands, b.env())
    for size in SIZES:
        b.ratio_row(f"token (cached), {size} profiles in file and store", stats[str(size)],
                    stats["base"], TARGET, "python -c pass")  # fmt: skip
    low, high = stats[str(SIZES[0])], stats[str(SIZES[-1])]
    per_1000 = (high.median - low.median) * 1000 / (SIZES[-1] - SIZES[0]) * 1000
    b.rows.append(Row(f"growth {SIZES[0]} → {SIZES[-1]} profiles (cached token)",
                      f"{per_1000:+.1f} ms per 1,000", ratio=f"{high.median / low.median:.2f}×",
                      cpu=f"{high.cpu / low.cpu:.2f}×"))  # fmt: skip
    _after_an_edit(b, envs[SIZES[-1]])


def _after_an_edit(b: Bench, env: dict[str, str]) -> None:
    """The first `token` after the profiles file changed: YAML parsed, copy and index written."""
    config = env["OAUTHCLI_CONFIG"]
    runs = max(10, b.timer.runs // 3)
    stats = b.timer.measure({"base": b.py("pass"), "edited": b.cli("token", "s0")}, env,
                            runs=runs, prepare={"edited": ["touch", config]})  # fmt: skip
    b.ratio_row(f"token, first run after an edit, {SIZES[-1]} profiles", stats["edited"],
                stats["base"], None, "python -c pass")  # fmt: skip


def peak_memory(b: Bench) -> None:
    env = b.env()
    pairs = [("peak RSS, token (cached)", b.cli("token", "fast"), b.py("pass"), MEMORY_TARGET),
             ("peak RSS, refresh", b.cli("refresh", "fast"), b.requests_post(), None)]  # fmt: skip
    for name, command, baseline, target in pairs:
        mine = median_rss_mib(command, env, b.rss_runs)
        base = median_rss_mib(baseline, env, b.rss_runs)
        ok = None if target is None else mine / base <= target
        shown = "python -c pass" if target else "requests.post"
        b.rows.append(Row(name, f"{mine:.1f} MiB", f"{base:.1f} MiB ({shown})",
                          f"{mine / base:.2f}×", target=f"≤ {target}×" if target else "—",
                          ok=ok))  # fmt: skip


def imports(b: Bench) -> str:
    """The import evidence: the cached route's modules and their cost, and refresh's."""
    env = b.env()
    b.run(b.cli("token", "fast"), env)  # a fresh token is stored
    cached = _importtime(b, ["token", "fast"], env)
    refresh = _importtime(b, ["refresh", "fast"], env)
    bare = _importtime_code(b, "pass", env)
    post = _importtime_code(b, b.requests_post()[2], env)
    bad = importtime.forbidden(cached, importtime.FORBIDDEN_ON_CACHED_PATH)
    name = "token (cached) imports " + "/".join(importtime.FORBIDDEN_ON_CACHED_PATH)
    b.rows.append(Row(name, ", ".join(bad) or "none of them", target="none", ok=not bad))
    return "\n\n".join([
        importtime.report("oauthcli token (cached), beyond python -c pass", cached, bare),
        importtime.route_modules(cached, bare),
        importtime.report("oauthcli refresh, beyond the requests.post baseline", refresh, post),
    ])  # fmt: skip


def _importtime(b: Bench, args: list[str], env: dict[str, str]) -> list[importtime.Entry]:
    # The console script is a Python file: run it with -X importtime under its interpreter.
    return _importtime_argv([b.python, "-X", "importtime", b.oauthcli, *args], env)


def _importtime_code(b: Bench, code: str, env: dict[str, str]) -> list[importtime.Entry]:
    return _importtime_argv([b.python, "-X", "importtime", "-c", code], env)


def _importtime_argv(argv: list[str], env: dict[str, str]) -> list[importtime.Entry]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return importtime.parse(done.stderr)
