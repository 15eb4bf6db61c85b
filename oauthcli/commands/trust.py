"""`oauthcli trust [PATH] [--untrust]`: allow a ./oauthcli.yaml to be used (SPEC §13)."""

from __future__ import annotations

from oauthcli.config.trust import TrustStore, key_of
from oauthcli.config.trusting import Trusted, trust_file
from oauthcli.worldtype import World

DEFAULT = "oauthcli.yaml"


def trust(world: World, path: str | None = None, untrust: bool = False) -> None:
    """Trust a profiles file found in the current directory (its content, until it changes)."""
    target = path or DEFAULT
    store = TrustStore()
    if untrust:
        known = store.untrust(target)
        world.output.note(f"{'no longer trusted' if known else 'was not trusted'}: "
                          f"{key_of(target)}")  # fmt: skip
        return
    world.output.note(_render(trust_file(target, store, world.clock())))


def _render(trusted: Trusted) -> str:
    plural = "" if trusted.profiles == 1 else "s"
    lines = [f"trusted {trusted.path} (sha256 {trusted.sha256[:16]}…, {trusted.profiles} "
             f"profile{plural}); once it changes it needs `oauthcli trust` again"]  # fmt: skip
    lines += [f"  it runs: {command}" for command in trusted.commands]
    return "\n".join(lines)
