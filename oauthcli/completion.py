"""Shell completion: profile names, provider names and option values, for the Typer app.

Profile names come from the profiles file as parsed, without resolving any reference: completing
a word never runs a `${cmd:}` or reads a `${file:}`. Any failure completes nothing (a shell
prompt is no place for an error message).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from oauthcli.errors import UsageError
from oauthcli.options import Arg, Opt
from oauthcli.world import World
from oauthcli.worldtype import Options

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def for_spec(spec: Opt | Arg) -> Callable[..., list[str]] | None:
    if spec.complete == "profiles":
        return profile_names
    if spec.complete == "providers":
        return provider_names
    if spec.complete == "choices":
        choices = spec.choices

        def values(incomplete: str) -> list[str]:
            return [c for c in choices if c.startswith(incomplete)]

        return values
    return None


def profile_names(ctx: typer.Context, incomplete: str) -> list[str]:
    root = ctx.find_root()
    world = root.obj if isinstance(root.obj, World) else World()
    config = root.params.get("config")
    if config == "-":
        return []  # stdin is the shell's, not a profiles file
    world.options = Options(config=config, state_dir=root.params.get("state_dir"))
    try:
        names = world.config.names
    except Exception:  # noqa: BLE001 - a broken profiles file completes nothing
        return []
    return [n for n in names if n.startswith(incomplete)]


def provider_names(incomplete: str) -> list[str]:
    from oauthcli.catalogue import providers

    try:
        return [n for n in providers() if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001
        return []


def install_request(args: list[str]) -> bool:
    """`--install-completion SHELL` / `--show-completion SHELL`: for that shell, not the detected
    one (Typer's own flags take no value and detect the parent shell)."""
    if len(args) != 2 or args[0] not in ("--install-completion", "--show-completion"):
        return False
    if args[1] not in SHELLS:
        raise UsageError(f"no completion for shell {args[1]!r}; choose one of: "
                         f"{', '.join(SHELLS)}")  # fmt: skip
    from typer._completion_shared import get_completion_script, install

    if args[0] == "--show-completion":
        print(get_completion_script(prog_name="oauthcli", complete_var="_OAUTHCLI_COMPLETE",
                                    shell=args[1]))  # fmt: skip
        return True
    shell, path = install(shell=args[1], prog_name="oauthcli", complete_var="_OAUTHCLI_COMPLETE")
    print(f"{shell} completion installed in {Path(path)}")
    print("Completion will take effect once you restart the terminal")
    return True
