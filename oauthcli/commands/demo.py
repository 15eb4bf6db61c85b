"""`oauthcli demo`: the whole journey against a token endpoint served on 127.0.0.1."""

from __future__ import annotations

import shlex

from oauthcli.errors import ExitCode
from oauthcli.worldtype import World

NEXT_STEPS = """\
Next, with a real provider:
  oauthcli init                        # the providers oauthcli knows
  oauthcli init google                 # add one to your profiles file (created 0600)
  oauthcli check                       # lint profiles, see unset variables
  oauthcli login google                # once: sign in, store the first refresh token
  oauthcli refresh google --dry-run    # the exact request, secrets redacted
  oauthcli token google                # stored token while valid, else refresh
  eval "$(oauthcli env google)"        # export ACCESS_TOKEN for scripts
  oauthcli exec google -- COMMAND      # or run a command with it, no eval"""


def demo(world: World) -> None:
    """Show refresh → rotation → env → validate against a local demo provider; touches no files."""
    from oauthcli import demo as core

    out = world.output
    console = out.console(out.stderr)
    console.print("[bold]oauthcli demo[/]: a provider on 127.0.0.1 that rotates refresh tokens")
    failed = False
    for number, (step, provider) in enumerate(core.run(), start=1):
        console.print(f"\n[bold cyan]{number}. {step.title}[/]  {step.explanation}")
        console.print(f"[dim]$[/] [bold]{shlex.join(step.argv)}[/]", highlight=False)
        out.stderr.flush()
        out.stdout.write(step.stdout)
        out.stdout.flush()
        if step.stderr:
            out.stderr.write(step.stderr)
        console.print(
            f"[dim]token requests that reached the provider so far: {provider.requests}[/]"
        )
        failed = failed or step.code != 0
    out.stderr.write("\n" + NEXT_STEPS + "\n")  # as written: copyable lines, never wrapped
    if failed:
        raise SystemExit(int(ExitCode.BAD_RESPONSE))
