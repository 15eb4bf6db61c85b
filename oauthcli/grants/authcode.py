"""The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636 S256, RFC 8252): `login`'s
browser flow (SPEC §9).

The listener is bound first (a busy fixed port fails before anyone signs in); the authorize
URL goes to stderr and, unless --no-browser, to a browser; the redirect comes back to the
listener (or is pasted on a terminal); its state, iss and error are checked (login.verify)
before the code is exchanged at the token endpoint with the verifier and the identical
redirect_uri. The browser is told the outcome once the exchange has answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oauthcli.errors import ConfigError, OAuthCliError, ProviderError
from oauthcli.grants.base import Flow, exchange
from oauthcli.login.context import LoginContext, client_id, login_request, relabel
from oauthcli.login.listener import Callback, Listener
from oauthcli.login.pkce import Pkce, random_value
from oauthcli.login.redirect import parse_redirect
from oauthcli.login.verify import Expected, authorization_code
from oauthcli.safetext import printable

if TYPE_CHECKING:
    from oauthcli.login.paste import Pastes

RESERVED = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
            "code_challenge_method", "nonce")  # fmt: skip
HINTS = {
    "invalid_grant": "the authorization code was refused (expired, used, or issued for "
    "another redirect_uri or verifier): run oauthcli login again",
    "invalid_client": "check auth (client_id, client_secret and type) against the app's "
    "settings at the provider",
}


def flow(login: LoginContext) -> Flow:
    profile = login.profile
    target = parse_redirect(login.setting("redirect_uri"), profile.name)
    authorize = _authorization_endpoint(login)
    pkce, state = Pkce(), random_value()
    login.world.secrets.add(pkce.verifier)
    expected = Expected(state, *_issuer(login))
    with Listener(target, profile.name) as listener:
        query, nonce = _query(login, listener.redirect_uri, state, pkce)
        callback = _await(login, listener, _with_query(authorize, query))
    with _answering(login, callback):
        code = authorization_code(callback.query, expected, login.world.secrets)
        fields = {"grant_type": "authorization_code", "code": code,
                  "redirect_uri": listener.redirect_uri,
                  "code_verifier": pkce.verifier}  # fmt: skip
        try:
            data = yield from exchange(login_request(login, fields), profile)
        except ProviderError as exc:
            raise relabel(exc, HINTS) from None
        _check_nonce(data, nonce)
    return data


def _authorization_endpoint(login: LoginContext) -> str:
    from oauthcli.wire.request import check_url

    url = login.endpoint("authorization_url", "authorization_endpoint")
    if not url:
        raise ConfigError(f"profile {login.profile.name!r}: no authorization endpoint",
                          hint="set login.authorization_url, or issuer: for discovery")  # fmt: skip
    check_url(url, login.profile, "login.authorization_url", login.world.secrets)
    return url


def _issuer(login: LoginContext) -> tuple[str | None, bool]:
    """The issuer an RFC 9207 ``iss`` must name, and whether the metadata promises one."""
    if not login.profile.issuer:
        return None, False
    from oauthcli.wire.discovery import discover

    metadata = discover(login.world, login.profile)
    issuer = metadata.get("issuer")
    if not isinstance(issuer, str):
        issuer = login.grant.resolver().resolve(login.profile.issuer, "issuer")
    return issuer, metadata.get("authorization_response_iss_parameter_supported") is True


def _query(
    login: LoginContext, redirect_uri: str, state: str, pkce: Pkce
) -> tuple[dict[str, str], str | None]:
    """The authorization request's parameters (RFC 6749 §4.1.1, RFC 7636 §4.3), and its nonce."""
    written = login.profile.scope
    scope = login.grant.resolver().resolve(written, "scope") if written else None
    query = {"response_type": "code", "client_id": client_id(login), "redirect_uri": redirect_uri}
    if scope:
        query["scope"] = scope
    query |= {"state": state, "code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    nonce = random_value() if scope and "openid" in scope.split() else None
    if nonce:
        query["nonce"] = nonce
    return query | _params(login), nonce


def _params(login: LoginContext) -> dict[str, str]:
    params: Any = (login.profile.login or {}).get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"profile {login.profile.name!r}, field login.params: expected a "
                          "mapping of strings")  # fmt: skip
    taken = sorted(set(params) & set(RESERVED))
    if taken:
        raise ConfigError(
            f"profile {login.profile.name!r}, field login.params: {taken[0]} is set by "
            "oauthcli itself", hint="scope comes from the profile's scope",
        )  # fmt: skip
    resolver = login.grant.resolver()
    return {str(k): resolver.resolve(str(v), f"login.params.{k}") for k, v in params.items()}


def _with_query(url: str, query: dict[str, str]) -> str:
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *query.items()]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _await(login: LoginContext, listener: Listener, url: str) -> Callback:
    ui = login.ui
    pastes: Pastes | None = None
    if ui.paste is not None:
        from oauthcli.login.paste import Pastes

        pastes = Pastes(ui.paste, listener.target.path, ui.instruct)
    try:
        _show(login, url, listener.redirect_uri, pasting=pastes is not None)
        callback = listener.wait(login.remaining, pastes)
    finally:
        if pastes is not None:
            pastes.close()
    if callback is None:
        raise login.timed_out(f"waiting for the browser to return to {listener.redirect_uri}")
    return callback


def _show(login: LoginContext, url: str, redirect_uri: str, *, pasting: bool) -> None:
    ui, name = login.ui, login.profile.name
    shown = printable(url)
    if ui.open_url is not None:
        ui.instruct(f"Opening a browser to sign in to profile {name!r}. If none opens, "
                    f"visit:\n{shown}")  # fmt: skip
        ui.open_url(url)
    else:
        ui.instruct(f"To sign in to profile {name!r}, open this URL in a browser:\n{shown}")
    if pasting:
        ui.instruct(f"Then paste here the address the browser ends up on ({redirect_uri}?…; "
                    "the page may fail to load on another machine) and press Enter.")  # fmt: skip
    ui.note(f"Waiting up to {max(0.0, login.remaining()):.3g}s for the sign-in …")


@contextlib.contextmanager
def _answering(login: LoginContext, callback: Callback) -> Iterator[None]:
    """Tell the browser how it ended: the error (secrets redacted, HTML escaped) or success."""
    try:
        yield
    except OAuthCliError as exc:
        callback.answer(False, login.world.secrets.redact_text(exc.message))
        raise
    except BaseException:  # the flow closed half-way (a failed request): still answer
        callback.answer(False, "The sign-in did not complete: see the terminal.")
        raise
    callback.answer(True, f"oauthcli obtained the tokens of profile {login.profile.name!r}.")


def _check_nonce(data: dict[str, Any], nonce: str | None) -> None:
    """An ID token that names another nonce was issued for another login (OIDC Core §3.1.3.7)."""
    from oauthcli.token import jwt_claims

    id_token = data.get("id_token")
    claims = jwt_claims(id_token) if nonce and isinstance(id_token, str) else None
    if claims and "nonce" in claims and claims["nonce"] != nonce:
        raise ProviderError("the ID token's nonce is not this login's: the tokens were not "
                            "stored", hint="run oauthcli login again")  # fmt: skip
