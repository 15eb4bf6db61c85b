"""`oauthcli token PROFILE`: a valid access token, from the store while it is fresh.

This is the path scripts (and kubectl, with `-f exec-credential`) call hundreds of times:
nothing here imports requests or rich unless the stored token is stale (SPEC §8).
"""

from __future__ import annotations

from oauthcli.commands._common import check_token_format
from oauthcli.grants import driver
from oauthcli.render import render_tokens
from oauthcli.worldtype import World


def token(
    world: World, profile: str, fmt: str | None = None, min_valid: float | None = None,
    force: bool = False,
) -> None:  # fmt: skip
    """Print a valid access token: the stored one if fresh enough, else refresh first."""
    check_token_format(world, fmt, 1)
    result = driver.obtain(world, world.profile(profile), min_valid=min_valid, force=force)
    render_tokens(world.output, [(profile, result)], fmt, world.clock())
