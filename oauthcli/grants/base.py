"""The grant seam: a grant is a generator of requests, driven by grants.driver.

Modelled on httpx's ``Auth.auth_flow``: a grant yields each request it needs and receives the
answer (``result = yield request``), so one that needs several requests (device polling, a code
exchange after a browser login) fits without its own copy of the driver. The grant decides;
the driver sends, keeps the rotated refresh token and persists. The generator returns the token
endpoint's final answer, already checked (``exchange``).

A new grant is one module with a ``flow`` function plus one line in ``grants.GRANTS``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.config.refs import Resolver
    from oauthcli.wire.request import TokenRequest
    from oauthcli.wire.response import HttpResult
    from oauthcli.worldtype import World

Flow = Generator["TokenRequest", "HttpResult", dict[str, Any]]


class GrantContext(NamedTuple):
    world: World
    profile: Profile  # token_url already filled in from discovery
    refresh_token: str | None  # what ${refresh_token} resolves to now

    def resolver(self) -> Resolver:
        return self.world.resolver(self.profile, self.refresh_token)


class Grant(Protocol):
    def __call__(self, context: GrantContext) -> Flow: ...


def exchange(request: TokenRequest, profile: Profile) -> Flow:
    """Send one token request (``data = yield from exchange(…)``): the checked answer."""
    from oauthcli.wire.response import check_response

    result = yield request
    return check_response(result, profile, urlsplit(request.url).hostname or "the token endpoint")
