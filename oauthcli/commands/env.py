"""`oauthcli env PROFILE… [--shell S] [--prefix P] [--force]`: print export statements."""

from __future__ import annotations

from oauthcli.errors import ConfigError, UsageError
from oauthcli.export import variables as exporting
from oauthcli.export.shellnames import canonical_shell
from oauthcli.export.shells import SHELLS, ExportVar, append_github_env, render
from oauthcli.grants import driver as flow
from oauthcli.worldtype import World


def collect(
    world: World, profiles: list[str], prefixes: list[str] | None, force: bool
) -> list[ExportVar]:
    """Tokens for every profile (same caching as `token`), as variables; names must not clash."""
    names = list(dict.fromkeys(profiles))
    plan = exporting.plan(world, names, prefixes or [])  # names checked before any request
    groups = []
    for name, prefix in plan:
        profile = world.profile(name)
        token = flow.obtain(world, profile, force=force)
        groups.append((name, exporting.variables(profile, token, prefix)))
    return exporting.merge(groups)


def env(
    world: World, profiles: list[str], shell: str = "sh", prefix: list[str] | None = None,
    force: bool = False,
) -> None:  # fmt: skip
    """Print statements that export the access token (eval "$(oauthcli env P)")."""
    shell = canonical_shell(shell)  # a failure prints a failing statement: ladder.guarded
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}; choose one of: {', '.join(SHELLS)}")
    github_env = world.environ.get("GITHUB_ENV")
    if shell == "github" and not github_env:
        raise ConfigError(
            "--shell github needs $GITHUB_ENV (set by GitHub Actions in every step)",
            hint="outside GitHub Actions use --shell sh or dotenv",
        )
    variables = collect(world, profiles, prefix, force)
    text = render(variables, shell)  # for github: the mask lines
    if shell == "github":
        assert github_env is not None
        world.output.out(text)
        append_github_env(variables, github_env)
        return
    world.output.out(text, [v.value for v in variables if v.secret])
