"""What ``oauthcli login`` needs from the assertion server: the authorization code grant with
PKCE (S256 only) behind an authorization endpoint that decides at once, and the device
authorization grant (RFC 8628), both with ``private_key_jwt`` client authentication at the
endpoints that authenticate clients, and both issuing refresh tokens that the server's
``refresh_token`` grant accepts (and rotates).

Mixed into :class:`~tests.assertion_server.server.AssertionServer` (``LoginMixin``):

``GET /authorize``
    Authlib's ``AuthorizationCodeGrant`` with :class:`S256Challenge` (a ``code_challenge`` with
    ``code_challenge_method=S256`` is required). No page is shown: the request is approved for
    ``login_user`` (or refused with ``access_denied`` when ``authorize_decision`` is ``"deny"``)
    and answered with a 302 to the client's ``redirect_uri``, carrying ``code`` and ``state``,
    plus RFC 9207 ``iss`` while ``iss_parameter`` is true (the default). Registered loopback
    redirect URIs match any port (RFC 8252 §7.3).
``POST /device_authorization``
    Authlib's ``DeviceAuthorizationEndpoint``; ``device_interval`` (5) and ``device_expires_in``
    (600) are what it answers. The test decides with ``approve_device(user_code)`` or
    ``deny_device(user_code)``; until then polls get ``authorization_pending``.
``GET /device``
    the ``verification_uri``: a page that names the code, nothing to press.
``GET /.well-known/oauth-authorization-server``, ``/.well-known/openid-configuration``
    RFC 8414 metadata (issuer, every endpoint, ``authorization_response_iss_parameter_supported``).

This module builds on Authlib only; server.py imports it (not the other way round).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)

from .loopback import RecordedRequest, Response, json_response

if TYPE_CHECKING:
    from .server import AssertionServer

DEVICE_CODE = DEVICE_CODE_GRANT_TYPE
LOGIN_GRANT_TYPES = ("authorization_code", DEVICE_CODE, "refresh_token")
LOOPBACK_REDIRECT_URIS = (
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
)
CODE_LIFETIME = 600  # RFC 6749 §4.1.2: at most 10 minutes
AUTH_METHODS = ["private_key_jwt", "federated_client_assertion"]


# -- redirect URIs -------------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_matches(registered: str, given: str) -> bool:
    """``given`` is ``registered``; for an ``http`` loopback URI, with any port (RFC 8252 §7.3)."""
    if given == registered:
        return True
    try:
        reg, got = urlsplit(registered), urlsplit(given)
        got.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        return False
    host = reg.hostname or ""
    return (
        reg.scheme == got.scheme == "http"
        and _is_loopback(host)
        and got.hostname == host
        and not got.username
        and (reg.path or "/") == (got.path or "/")
        and reg.query == got.query
        and not got.fragment
    )


# -- the authorization endpoint's request (parameters in the query) ------------------------------
class _QueryPayload(OAuth2Payload):
    def __init__(self, query: dict[str, str]) -> None:
        self._data = query
        self._datalist = {name: [value] for name, value in query.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> Any:
        return self._datalist


class _AuthorizeRequest(OAuth2Request):
    def __init__(self, record: RecordedRequest, uri: str) -> None:
        super().__init__(record.method, uri, headers=record.headers)
        self.record = record
        self.payload = _QueryPayload(record.query)

    @property
    def args(self) -> dict[str, str]:
        return self.record.query

    @property
    def form(self) -> dict[str, str]:
        return {}


# -- models --------------------------------------------------------------------------------------
@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str | None
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    issued_at: float
    used: bool = False

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str | None:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.issued_at)

    @property
    def active(self) -> bool:
        return not self.used and time.time() < self.issued_at + CODE_LIFETIME


def _check_client_scope(server: Any, client: Any, scope: str | None) -> None:
    server.validate_requested_scope(scope)
    if scope and client is not None and client.scope is not None:
        extra = set(scope_to_list(scope)) - set(scope_to_list(client.scope))
        if extra:
            raise InvalidScopeError(description=f"scope not allowed: {' '.join(sorted(extra))}")


# -- the grants ----------------------------------------------------------------------------------
class S256Challenge(CodeChallenge):
    """RFC 7636, required for every client (Authlib's ``required`` binds public clients only)
    and S256 only: oauthcli always sends S256 (SPEC §9)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeLogin(AuthorizationCodeGrant):
    """Authlib's authorization code grant; codes live in ``owner.authorization_codes``, are
    bound to the client, the redirect_uri and the challenge, used once, 10 minutes at most."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def owner(self) -> AssertionServer:
        return self.server.owner

    def validate_requested_scope(self) -> None:
        _check_client_scope(self.server, self.request.client, self.request.payload.scope)

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        record = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            nonce=data.get("nonce"),
            issued_at=time.time(),
        )
        with self.owner._state_lock:
            self.owner.authorization_codes[code] = record
        request.record.notes.update(client_id=record.client_id, code=code)

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        found = self.owner.authorization_codes.get(code)
        if found is None or found.client_id != client.client_id or not found.active:
            return None
        return found

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        authorization_code.used = True

    def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.user

    def create_token_response(self) -> Any:
        self.request.record.notes["client_id"] = self.request.client.client_id
        return super().create_token_response()


class DeviceAuthorization(DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    @property
    def INTERVAL(self) -> int:  # noqa: N802 (Authlib's name)
        return self.server.owner.device_interval

    @property
    def EXPIRES_IN(self) -> int:  # noqa: N802
        return self.server.owner.device_expires_in

    def authenticate_client(self, request: Any) -> Any:
        client = super().authenticate_client(request)
        _check_client_scope(self.server, client, request.payload.scope)
        request.record.notes["client_id"] = client.client_id
        return client

    def get_verification_uri(self) -> str:
        return self.server.owner.url("/device")

    def save_device_credential(self, client_id: str, scope: str | None, data: dict) -> None:
        owner = self.server.owner
        credential = DeviceCredentialDict(
            client_id=client_id, scope=scope, expires_at=time.time() + data["expires_in"], **data
        )
        with owner._state_lock:
            owner.device_credentials[data["device_code"]] = credential


class DeviceCodeLogin(DeviceCodeGrant):
    """Authlib's device code grant; each device code is redeemed once."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def owner(self) -> AssertionServer:
        return self.server.owner

    def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
        credential = self.owner.device_credentials.get(device_code)
        if credential is not None and credential.get("used"):
            raise InvalidGrantError(description="the device code was already redeemed")
        return credential

    def query_user_grant(self, user_code: str) -> tuple[str, bool] | None:
        return self.owner.device_decisions.get(user_code)

    def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
        return False

    def create_token_response(self) -> Any:
        self.request.credential["used"] = True
        self.request.record.notes["client_id"] = self.request.client.client_id
        return super().create_token_response()


# -- the server's side ---------------------------------------------------------------------------
class LoginMixin:
    """The login endpoints of :class:`AssertionServer`. Tunables: ``login_user`` ("alice"),
    ``authorize_decision`` ("approve" or "deny"), ``iss_parameter`` (True),
    ``device_interval`` (5), ``device_expires_in`` (600)."""

    def _init_login(self: AssertionServer) -> None:
        self.login_user = "alice"
        self.authorize_decision = "approve"
        self.iss_parameter = True
        self.device_interval = 5
        self.device_expires_in = 600
        self.authorization_codes: dict[str, AuthorizationCode] = {}
        self.device_credentials: dict[str, DeviceCredentialDict] = {}
        self.device_decisions: dict[str, tuple[str, bool]] = {}
        self._token.register_grant(AuthorizationCodeLogin, [S256Challenge(required=True)])
        self._token.register_grant(DeviceCodeLogin)
        self._token.register_endpoint(DeviceAuthorization)
        self._routes["/device_authorization"] = (self._token, "device_authorization")
        self._get_routes = {
            "/authorize": self._authorize,
            "/device": self._device_page,
            "/.well-known/oauth-authorization-server": self._metadata_response,
            "/.well-known/openid-configuration": self._metadata_response,
        }

    # URLs and registration ---------------------------------------------------------------------
    @property
    def authorization_url(self: AssertionServer) -> str:
        return self.url("/authorize")

    @property
    def device_authorization_url(self: AssertionServer) -> str:
        return self.url("/device_authorization")

    def register_login_client(self: AssertionServer, keypair: Any, client_id: str | None = None,
                              **kwargs: Any) -> Any:  # fmt: skip
        """A private_key_jwt client that may log in (authorization code, device code, refresh
        token) with the loopback redirect URIs (any port); ``register_client``'s keywords."""
        kwargs.setdefault("grant_types", LOGIN_GRANT_TYPES)
        kwargs.setdefault("redirect_uris", LOOPBACK_REDIRECT_URIS)
        return self.register_client(keypair, client_id, **kwargs)

    def metadata(self: AssertionServer) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_url,
            "token_endpoint": self.token_url,
            "device_authorization_endpoint": self.device_authorization_url,
            "revocation_endpoint": self.revocation_url,
            "introspection_endpoint": self.introspection_url,
            "response_types_supported": ["code"],
            "grant_types_supported": [*LOGIN_GRANT_TYPES, "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "authorization_response_iss_parameter_supported": self.iss_parameter,
        }

    # the person's decisions --------------------------------------------------------------------
    def approve_device(self: AssertionServer, user_code: str, user: str | None = None) -> None:
        self._decide(user_code, user or self.login_user, True)

    def deny_device(self: AssertionServer, user_code: str) -> None:
        self._decide(user_code, self.login_user, False)

    def _decide(self: AssertionServer, user_code: str, user: str, approved: bool) -> None:
        with self._state_lock:
            known = {c["user_code"] for c in self.device_credentials.values()}
            if user_code not in known:
                raise KeyError(f"no device authorization has the user code {user_code!r}")
            self.device_decisions[user_code] = (user, approved)

    def device_polls(self: AssertionServer) -> list[RecordedRequest]:
        return [r for r in self.requests_to("/token") if r.form.get("grant_type") == DEVICE_CODE]

    # HTTP --------------------------------------------------------------------------------------
    def _authorize(self: AssertionServer, record: RecordedRequest) -> Response:
        """Approve (or deny) at once; a redirect to the client gets ``iss`` (RFC 9207)."""
        from authlib.oauth2.rfc6749 import OAuth2Error

        request = _AuthorizeRequest(record, self.url(record.path))
        try:
            grant = self._token.get_consent_grant(request)
        except OAuth2Error as error:
            response = self._token.handle_error_response(request, error)
        else:
            user = self.login_user if self.authorize_decision == "approve" else None
            response = self._token.create_authorization_response(request, user, grant)
        status, headers, body = response
        if status == 302 and self.iss_parameter and "Location" in headers:
            headers = {**headers, "Location": _add_query(headers["Location"], iss=self.issuer)}
        return status, headers, body

    def _metadata_response(self: AssertionServer, record: RecordedRequest) -> Response:
        return json_response(200, self.metadata())

    def _device_page(self: AssertionServer, record: RecordedRequest) -> Response:
        code = record.query.get("user_code", "")
        text = "Enter the code shown on your device." if not code else f"Code {code}: waiting."
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


def _add_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(pairs)))
