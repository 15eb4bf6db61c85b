"""`oauthcli check [--strict]`: lint the profiles file; exit 1 when problems are found."""

from __future__ import annotations

from oauthcli.config.lint import lint
from oauthcli.errors import ExitCode
from oauthcli.world import World


def check(world: World, strict: bool = False) -> None:
    """Lint the profiles file: schema, unresolved references, insecure settings."""
    config = world.config
    findings = lint(config, world.environ, strict)
    lines = [f"{f.level}: {f.profile}: {f.message}" for f in findings]
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    summary = f"{config.source}: {len(config.names)} profiles, {errors} errors, {warnings} warnings"
    world.output.out("\n".join([*lines, summary]) + "\n")
    if errors:
        raise SystemExit(int(ExitCode.INVALID))
