"""What a login flow (grants.authcode, grants.device) is given, and what both of them share.

A login flow is a grant flow (grants.base) with more to hand: the person at the terminal
(``LoginUI``: the command supplies it, since core code never prints) and the deadline of
``--timeout``. Its requests are standard form POSTs authenticated per ``auth``, whatever the
profile's own refresh request looks like.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from oauthcli.errors import ProviderError, TransientError

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.grants.base import GrantContext
    from oauthcli.wire.request import TokenRequest
    from oauthcli.worldtype import World


@dataclass(frozen=True)
class LoginUI:
    instruct: Callable[[str], None]  # what the person must see (URLs, codes): even with -q
    note: Callable[[str], None]  # progress, silenced by -q
    open_url: Callable[[str], None] | None = None  # opens a browser; None with --no-browser
    paste: IO[str] | None = None  # a terminal to paste the redirected URL into


@dataclass(frozen=True)
class LoginContext:
    grant: GrantContext
    ui: LoginUI
    deadline: float  # on the world's clock
    timeout: float  # --timeout, for messages

    @property
    def world(self) -> World:
        return self.grant.world

    @property
    def profile(self) -> Profile:
        return self.grant.profile

    def remaining(self) -> float:
        return self.deadline - self.world.clock()

    def timed_out(self, waiting_for: str) -> TransientError:
        return TransientError(
            f"login timed out after {self.timeout:g}s {waiting_for}",
            hint="run oauthcli login again and finish within the time (--timeout S for more)",
        )

    def setting(self, key: str) -> str | None:
        """``login.<key>`` resolved, or None."""
        value = (self.profile.login or {}).get(key)
        if value is None:
            return None
        return self.grant.resolver().resolve(str(value), f"login.{key}")

    def endpoint(self, key: str, metadata_key: str) -> str | None:
        """``login.<key>``, else the issuer's ``metadata_key`` (wire.discovery.endpoint)."""
        from oauthcli.wire.discovery import endpoint

        explicit = (self.profile.login or {}).get(key)
        return endpoint(self.world, self.profile, explicit, metadata_key, f"login.{key}")


def literal(value: str) -> str:
    """A value for a request template that is never read as a reference (``$`` doubled)."""
    return value.replace("$", "$$")


def login_request(
    login: LoginContext,
    fields: Mapping[str, str],
    *,
    url: str | None = None,
    templates: Mapping[str, str] | None = None,
) -> TokenRequest:
    """A form POST to ``url`` (default: the token endpoint, with the profile's query params):
    the literal ``fields``, the profile's ``templates`` (references resolved), the profile's
    headers but its Content-Type, and client authentication per ``auth`` (wire.clientauth)."""
    from oauthcli.wire.clientauth import authenticate
    from oauthcli.wire.request import build_request

    profile = login.profile
    headers = {k: v for k, v in profile.headers.items() if k.lower() != "content-type"}
    params = profile.params if url is None else {}  # the token endpoint's, not another's
    profile = profile._replace(method="POST", headers=headers, params=params, body_format="form")
    resolver = login.grant.resolver()
    body = {k: literal(v) for k, v in fields.items()}
    if profile.auth is None:  # the client's fields live in a hand-written refresh body
        found = authenticate(profile, resolver, url or "").fields
        body = {**{k: literal(v) for k, v in found.items()}, **body}
    return build_request(profile, resolver, {**body, **(templates or {})}, url=url)


def client_id(login: LoginContext) -> str:
    from oauthcli.errors import ConfigError
    from oauthcli.wire.clientauth import client_id as find

    found = find(login.profile, login.grant.resolver())
    if not found:
        raise ConfigError(
            f"profile {login.profile.name!r}: login needs the client's id",
            hint="set auth: {type: none, client_id: …} (or basic/post with client_secret)",
        )
    return found


def relabel(exc: ProviderError, hints: Mapping[str, str]) -> ProviderError:
    """The same refusal with the login's hint (the generic ones speak of refresh tokens)."""
    hint = hints.get(exc.error or "") or exc.hint
    return ProviderError(exc.message, hint=hint, error=exc.error,
                         error_description=exc.error_description, status=exc.status)  # fmt: skip
