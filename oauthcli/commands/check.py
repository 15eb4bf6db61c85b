"""`oauthcli check [--strict]`: lint the profiles file; exit 1 when problems are found."""

from __future__ import annotations

from oauthcli.config.lint import Finding, lint
from oauthcli.config.load import load_for_check
from oauthcli.errors import ExitCode
from oauthcli.worldtype import World


def check(world: World, strict: bool = False) -> None:
    """Lint the profiles file: schema, unresolved references, insecure settings."""
    checked = load_for_check(world.options.config, world.environ, world.stdin, world.secrets)
    config = checked.config
    findings = lint(checked, world.environ, strict)
    lines = [world.secrets.redact_text(_render(config.source, f)) for f in findings]
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    summary = f"{config.source}: {len(config.names)} profiles, {errors} errors, {warnings} warnings"
    world.output.out("\n".join([*lines, summary]) + "\n")
    if errors:
        raise SystemExit(int(ExitCode.INVALID))


def _render(source: str, finding: Finding) -> str:
    """``FILE:LINE: LEVEL: PROFILE: MESSAGE (HINT)``, as compilers print."""
    where = f"{source}:{finding.line}" if finding.line else source
    profile = f"{finding.profile}: " if finding.profile else ""
    hint = f" ({finding.hint})" if finding.hint else ""
    return f"{where}: {finding.level}: {profile}{finding.message}{hint}"
