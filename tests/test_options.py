"""One source of truth for options: the Typer app and the typer-free fast path agree.

Both are built from ``oauthcli.options``; the first tests check that the Typer app really is
(every command, argument and option of the specifications, nothing else), the property test
that any command line gives the same exit code, stdout and stderr through ``entry.main`` (the
console script, which answers plain lines itself) and ``cli.main`` (always the Typer app).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oauthcli import cli, entry, options
from oauthcli.world import World
from tests.conftest import Result, run
from tests.server import LoopbackServer, Response

NOW = 2_000_000_000.0  # the fixed clock of every run: `expires_in` must not tick between them


def _click_params(command: Any) -> dict[str, Any]:
    return {p.name: p for p in command.params}


def test_typer_app_is_built_from_the_specifications() -> None:
    group = typer.main.get_command(cli.app)
    built = {"": group, **group.commands}  # type: ignore[attr-defined]
    assert set(built) == {"", *(c.name for c in options.COMMANDS)}
    specs = {"": ((), options.GLOBALS), **{c.name: (c.arguments, c.options)
                                            for c in options.COMMANDS}}  # fmt: skip
    for name, (arguments, opts) in specs.items():
        params = _click_params(built[name])
        typer_own = {"help", "install_completion", "show_completion"}
        assert set(params) - typer_own == {s.dest for s in (*arguments, *opts)}, name
        for spec in opts:
            param = params[spec.dest]
            assert tuple(param.opts) == spec.flags, (name, spec.dest)
            assert param.is_flag == (spec.kind == "flag") and param.multiple == (
                spec.kind == "texts"
            ), (name, spec.dest)
        for arg in arguments:
            param = params[arg.dest]
            assert param.param_type_name == "argument"
            assert (param.nargs == -1) == arg.many and param.required == (
                arg.required and not arg.many or arg.required
            ), (name, arg.dest)


def test_the_choices_are_the_ones_the_bodies_accept() -> None:
    from oauthcli.export.shells import SHELLS
    from oauthcli.render import FORMATS

    assert options.SHELLS == SHELLS and options.FORMATS == FORMATS
    assert set(options.FAST_FORMATS) == set(options.FORMATS) - {"table"}


def test_fast_commands_take_only_single_word_arguments() -> None:
    for command in options.COMMANDS:
        if command.fast:
            assert command.arguments and all(a.required or a.many for a in command.arguments)
            assert command.arguments[0].dest in ("profile", "profiles")


def test_every_body_exists_and_takes_the_specified_keywords() -> None:
    import inspect

    for command in options.COMMANDS:
        parameters = list(inspect.signature(command.load()).parameters)
        assert parameters[0] == "world", command.name
        expected = [s.dest for s in (*command.arguments, *command.options)]
        assert sorted(parameters[1:]) == sorted(expected), command.name


# --- the property: same exit code, stdout and stderr --------------------------------------------

PLAIN_GLOBALS = [["-q"], ["--quiet"], ["--no-color"], ["-c", "@config"], ["--config=@config"],
                 ["-c", "-"], ["--store", "file"], ["--state-dir="]]  # fmt: skip
ODD_GLOBALS = [["-v"], ["--verbose"], ["--version"], ["-c", "missing.yaml"], ["-c"], ["-c", ""],
               ["--state-dir", "/proc/oauthcli-nowhere"], ["--store=bogus://x"], ["--store"],
               ["-qv"], ["-c=x"]]  # fmt: skip
PLAIN_OPTIONS = [["-f", "json"], ["--format", "header"], ["--format=token"], ["-f", "exec-credential"],
                 ["--min-valid", "30"], ["--min-valid=1e999"], ["--min-valid", " 5"], ["--force"],
                 ["--dry-run"], ["-f", "token"], ["--all"], ["stale"]]  # fmt: skip
ODD_OPTIONS = [["-f", "table"], ["-f", "yaml"], ["-fjson"], ["--format="], ["-f"],
               ["--min-valid", "-1"], ["--min-valid", "nan"], ["--min-valid", "soon"],
               ["--force=1"], ["--all"], ["--shell", "sh"], ["--prefix", "X_"], ["-h"], ["--bogus"],
               ["-x"], ["-qf"], ["--"], ["-"], ["p"], ["stale"], ["nope"], ["get"], ["erase"],
               ["bogus-action"]]  # fmt: skip
COMMANDS = ["token", "refresh", "git-credential"]
ODD_COMMANDS = ["env", "list", "tokn", "--force", "-", "validate"]
PROFILES = ["p", "stale", "nope", "p=x"]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A line near the plain ones: globals, a command, a profile, options, shuffled, and
    sometimes something odd (a typo, an unknown option, a dangling value, a lost word)."""
    odd = draw(st.integers(0, 2)) == 0

    def pick(plain: list[Any], strange: list[Any]) -> Any:
        return draw(st.sampled_from(strange if odd and draw(st.booleans()) else plain))

    head = [pick(PLAIN_GLOBALS, ODD_GLOBALS) for _ in range(draw(st.integers(0, 2)))]
    command = pick(COMMANDS, ODD_COMMANDS)
    rest = [[draw(st.sampled_from(PROFILES))]]
    if command == "git-credential":
        rest.append([draw(st.sampled_from(["get", "store", "erase", "nope"]))])
    rest += [pick(PLAIN_OPTIONS + PLAIN_GLOBALS, ODD_OPTIONS + ODD_GLOBALS)
             for _ in range(draw(st.integers(0, 3)))]  # fmt: skip
    tail = draw(st.permutations(rest))
    words = [w for group in head for w in group] + [command] + [w for g in tail for w in g]
    if odd and draw(st.booleans()):  # a dangling option, no profile, a value without option
        del words[draw(st.integers(0, len(words) - 1))]
    return words


def _world(state: Path, stdin: str) -> tuple[World, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    environ = {**os.environ, "OAUTHCLI_STATE_DIR": str(state)}
    world = World(environ=environ, stdin=io.StringIO(stdin), stdout=out, stderr=err,
                  clock=lambda: NOW, sleep=lambda s: None)  # fmt: skip
    return world, out, err


def _run(main: Any, argv: list[str], state: Path, stdin: str) -> Result:
    world, out, err = _world(state, stdin)
    code = 0
    try:
        main(list(argv), world)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def lines_env(tmp_path: Path, profiles_file: Any, server: LoopbackServer) -> dict[str, Any]:
    """A profiles file with `p` (a fresh stored token) and `stale` (none), and a template state dir."""
    server.reply("/token", Response(200, {"access_token": "the-token", "token_type": "Bearer",
                                          "expires_in": 3600}))  # fmt: skip
    config = profiles_file({"p": {}, "stale": {}})
    template = tmp_path / "template-state"
    seeded = _run(cli.main, ["refresh", "p"], template, "")
    assert seeded.code == 0, seeded
    return {"config": config, "template": template, "stdin": config.read_text(), "n": [0],
            "server": server}  # fmt: skip


def _fresh_state(env: dict[str, Any]) -> Path:
    env["n"][0] += 1
    target = env["template"].parent / f"state-{env['n'][0]}"
    shutil.copytree(env["template"], target)
    return target


def _snapshot(state: Path) -> dict[str, bytes]:
    """What a run left in its state dir (lock files aside): stored tokens, generations."""
    return {p.name: p.read_bytes() for p in sorted(state.iterdir())
            if p.is_file() and not p.name.endswith(".lock")}  # fmt: skip


def _both(env: dict[str, Any], argv: list[str]) -> list[tuple[Result, int, dict[str, bytes]]]:
    """Each run's result, the token requests it sent and the state it left."""
    argv = [w.replace("@config", str(env["config"])) for w in argv]
    stdin = env["stdin"] if "-" in argv else "protocol=https\nhost=example.com\n\n"  # -c - or git
    outcomes = []
    for main in (entry.main, cli.main):
        state, hits = _fresh_state(env), len(env["server"].hits("/token"))
        result = _run(main, argv, state, stdin)
        outcomes.append((result, len(env["server"].hits("/token")) - hits, _snapshot(state)))
    return outcomes


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
@example(argv=["token", "p"])
@example(argv=["token", "stale", "-f", "json"])
@example(argv=["refresh", "p", "--format=header", "-q"])
@example(argv=["token", "p", "-f", "exec-credential"])
@example(argv=["git-credential", "p", "get"])
@example(argv=["git-credential", "p", "bogus-action"])
@example(argv=["token", "p", "-c", "-"])
@example(argv=["token", "p", "--min-valid", "1e999"])
@example(argv=["token", "p", "-c"])
@example(argv=["-c", "", "token", "p"])
@example(argv=["token", "p", "-f", "-q"])
@example(argv=["--store", "bogus://x", "token", "p"])
@example(argv=["token", "p=x"])
def test_fast_path_and_typer_app_give_the_same_result(
    lines_env: dict[str, Any], argv: list[str]
) -> None:
    fast, full = _both(lines_env, argv)
    assert fast == full, argv


def test_the_fast_path_answers_the_plain_lines(lines_env: dict[str, Any]) -> None:
    """The property test means something only if the fast path takes part: these it answers."""
    for argv in (["token", "p"], ["-q", "refresh", "stale", "-f", "json"],
                 ["git-credential", "p", "get"], ["token", "p", "-f", "exec-credential"],
                 ["token", "p", "--min-valid=30", "--force", "--store", "file"]):  # fmt: skip
        assert entry.parse(argv) is not None, argv
    assert run("token", "p").stdout == "the-token\n"
