"""`oauthcli init [PROVIDER]`: a provider's profile from the built-in catalogue (SPEC §11).

Without PROVIDER it lists the catalogue on stdout. With one it adds that profile (and the
profile it extends) to the profiles file that every other command reads, creating the file
0600, never overwriting a profile that is already there, and prints the commands to run next.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from oauthcli import catalogue
from oauthcli.errors import UsageError
from oauthcli.worldtype import World


def init(world: World, provider: str | None = None) -> None:
    """Add a provider's profile from the built-in catalogue to the profiles file."""
    known = catalogue.providers()
    if provider is None:
        width = max(map(len, known), default=0)
        world.output.out("".join(f"{p.name:<{width}}  {p.description}\n" for p in known.values()))
        world.output.note("oauthcli init PROVIDER adds one to your profiles file")
        return
    if provider not in known:
        close = difflib.get_close_matches(provider, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(f"no provider {provider!r} in the catalogue",
                         hint=f"{hint}'oauthcli init' lists them")  # fmt: skip
    path = target(world)
    added = catalogue.add(path, provider, known)
    if not added:
        world.output.note(f"{path} already has a profile {provider!r}: left unchanged")
    else:
        world.output.note(f"added {', '.join(map(repr, added))} to {path}")
    if not world.output.quiet:  # as written: copyable lines, like the demo's next steps
        world.stderr.write(next_steps(world, known, provider, path) + "\n")


def target(world: World) -> Path:
    from oauthcli.config.load import locate

    located = locate(world.options.config, world.environ, Path.cwd())
    if located == "-":
        raise UsageError("init writes a profiles file; -c - reads one from stdin",
                         hint="pass -c PATH, or none for the default file")  # fmt: skip
    return Path(located).expanduser()


def next_steps(
    world: World, known: dict[str, catalogue.Provider], name: str, path: Path
) -> str:
    """The commands to run next, as copyable lines (a pipx user has no example file to read)."""
    import shlex

    run = f"oauthcli -c {shlex.quote(str(path))}" if world.options.config else "oauthcli"
    chain = catalogue.wanted(name, known, set())  # the variables of what it extends count too
    provider = known[name]
    variables = [v for p in chain for v in catalogue.environment_variables(p)]
    needed = [v for v in dict.fromkeys(variables) if v not in world.environ]
    steps = [("export " + " ".join(f"{v}=…" for v in needed), "the values the profile reads")]
    steps = steps if needed else []
    steps.append((f"{run} check", "lint; lists what is still unset"))
    if _needs_login(provider):
        steps.append((f"{run} login {provider.name}", "once: obtain the first refresh token"))
    steps.append((f"{run} token {provider.name}", "a fresh access token"))
    width = max(len(command) for command, _ in steps)
    return "next:\n" + "\n".join(f"  {c:<{width}}  # {why}" for c, why in steps)


def _needs_login(provider: catalogue.Provider) -> bool:
    """A person must sign in once, unless a machine grant or a configured token does it."""
    profile = provider.profile
    return "grant" not in profile and "refresh_token" not in profile
