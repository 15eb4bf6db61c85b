"""An authorization server that checks signed assertions, built on Authlib.

Endpoints (all POST, ``application/x-www-form-urlencoded``):

``/token``
    * ``grant_type=client_credentials`` with ``private_key_jwt`` client authentication
      (RFC 7523 §2.2, Authlib's ``JWTBearerClientAssertion``), or with a federated
      ``client_assertion`` from a trusted external issuer (the Microsoft Entra shape:
      ``client_id`` + ``client_assertion_type`` + ``client_assertion``).
    * ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (RFC 7523 §2.1, Authlib's
      ``JWTBearerGrant``).
    * ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` (RFC 8693; Authlib has no
      implementation, this one is a ``BaseGrant`` subclass verifying with joserfc).
    * ``grant_type=refresh_token`` (Authlib's ``RefreshTokenGrant``) with assertion client
      authentication, for refresh tokens seeded with ``issue_refresh_token``; rotated.
    * ``grant_type=authorization_code`` (PKCE S256) and
      ``grant_type=urn:ietf:params:oauth:grant-type:device_code`` for login (see ``login``).
``/revoke``, ``/introspect``
    RFC 7009 / RFC 7662 (Authlib's endpoints) with assertion client authentication.
``/authorize`` (GET), ``/device_authorization``, ``/device`` (GET), ``/.well-known/…`` (GET)
    what ``oauthcli login`` needs: see ``login``.
``/google/token``
    the Google service-account flavour of the jwt-bearer grant.

Signatures are verified with joserfc (Authlib's JOSE layer) with an explicit per-client list
of algorithms; the time and replay checks Authlib lacks are added in the subclasses.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import (
    BaseGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    TokenEndpointMixin,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, JWTBearerGrant
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    InvalidKeyIdError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.util import to_bytes

from .keys import KeyPair, generate_keypair
from .login import DEVICE_CODE, LoginMixin, redirect_uri_matches
from .loopback import LoopbackServer, RecordedRequest, Response, json_response

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ENTRA_AUDIENCE = "api://AzureADTokenExchange"
_ISSUES_REFRESH_TOKENS = ("refresh_token", "authorization_code", DEVICE_CODE)
GOOGLE_LIFETIME_ERROR = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


# -- JOSE ----------------------------------------------------------------------------------------
class _AllowListRegistry(jws.JWSRegistry):
    """joserfc's registry, but only the given algorithms, and without the RFC 9864 deprecation
    warning joserfc raises for ``EdDSA`` (clients are told to send ``EdDSA``)."""

    def get_alg(self, name: str) -> Any:
        if name not in self.algorithms or not self.allowed or name not in self.allowed:
            raise UnsupportedAlgorithmError(
                f"Algorithm '{name}' is not allowed here (expected {sorted(self.allowed or [])})"
            )
        return self.algorithms[name]


def decode_verified(token: str, key: Any, algorithms: Iterable[str]) -> jwt.Token:
    """Verify the signature of a compact JWS with ``key`` (a joserfc key or KeySet) and one of
    ``algorithms``, and return its header and claims. Raises ``JoseError``/``ValueError``."""
    registry = _AllowListRegistry(algorithms=list(algorithms), strict_check_header=False)
    return jwt.decode(token, key, registry=registry)


def peek(token: str, error_cls: type[OAuth2Error]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT before verification (to pick the key), as OAuth errors."""
    try:
        obj = jws.extract_compact(to_bytes(token))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise error_cls(description=f"Invalid JWT: {exc}") from None
    if not isinstance(claims, dict):
        raise error_cls(description="Invalid JWT payload.")
    return obj.headers(), claims


# -- models --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FederatedCredential:
    """Entra-style trust: tokens of ``issuer`` with ``sub == subject`` and one of ``audiences``."""

    issuer: str
    subject: str
    audiences: tuple[str, ...] = (ENTRA_AUDIENCE,)


@dataclass
class RegisteredClient(ClientMixin):
    """A client of the assertion server.

    ``auth_method`` is ``private_key_jwt`` (the key verifies client assertions and, with
    ``issuer`` as ``iss``, jwt-bearer grant assertions) or ``federated`` (``federated`` tells
    which external tokens authenticate it).
    """

    client_id: str
    auth_method: str = "private_key_jwt"
    keypair: KeyPair | None = None
    public_key: Any = None  # a joserfc KeySet
    algorithms: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()  # accepted as "aud" besides the endpoint URL
    issuer: str = ""  # "iss" of jwt-bearer grant assertions (default: client_id)
    subjects: frozenset[str] | None = None  # allowed "sub" in jwt-bearer grants (None: any)
    scope: str | None = None  # the scopes it may ask for (None: any)
    grant_types: tuple[str, ...] = (
        "client_credentials",
        JWT_BEARER,
        TOKEN_EXCHANGE,
        "refresh_token",
    )
    federated: FederatedCredential | None = None
    kind: str = "client"  # or "google_service_account"
    redirect_uris: tuple[str, ...] = ()  # loopback ones match any port (RFC 8252 §7.3)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope or self.scope is None:
            return scope or ""  # None would be Authlib's invalid_scope for a request without one
        allowed = set(scope_to_list(self.scope))
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(r, redirect_uri) for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        wanted = (
            "federated_client_assertion" if self.auth_method == "federated" else self.auth_method
        )
        return method == wanted

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass(frozen=True)
class ServiceAccount:
    """A Google service account registered on the server, with its JSON key file."""

    client_email: str
    client_id: str
    private_key_id: str
    project_id: str
    keypair: KeyPair
    token_uri: str
    info: dict[str, Any]  # the key file's JSON
    path: Path | None  # where the key file was written


@dataclass
class IssuedToken:
    """An access or refresh token this server issued (``token`` is the string)."""

    access_token: str  # the token string (also for refresh tokens)
    grant_type: str
    client_id: str | None
    scope: str | None
    subject: str | None
    issued_at: float
    expires_in: int | None  # None: does not expire
    endpoint: str
    kind: str = "access_token"  # or "refresh_token"
    revoked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return self.access_token

    # Authlib's TokenMixin, for refresh, revocation and introspection
    def check_client(self, client: Any) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str | None:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in or 0

    def is_expired(self) -> bool:
        return self.expires_in is not None and time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    @property
    def active(self) -> bool:
        return not self.revoked and not self.is_expired()


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    jwks_uri: str | None = None  # None: discovered from <issuer>/.well-known/openid-configuration
    jwks: dict[str, Any] | None = None  # given in-process instead of fetched
    algorithms: tuple[str, ...] = ("RS256",)


# -- Authlib adapters ----------------------------------------------------------------------------
class _Payload(OAuth2Payload):
    def __init__(self, form: dict[str, str], form_list: list[tuple[str, str]]) -> None:
        self._form = form
        self._datalist: dict[str, list[str]] = {}
        for name, value in form_list:
            self._datalist.setdefault(name, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> Any:
        return self._datalist


class _Request(OAuth2Request):
    """An ``OAuth2Request`` over a :class:`RecordedRequest`."""

    def __init__(self, record: RecordedRequest, uri: str) -> None:
        super().__init__(record.method, uri, headers=record.headers)
        self.record = record
        self.payload = _Payload(record.form, record.form_list)

    @property
    def args(self) -> dict[str, str]:
        return self.record.query

    @property
    def form(self) -> dict[str, str]:
        return self.record.form


class _Authlib(AuthorizationServer):
    """Authlib's AuthorizationServer, framework-free: requests are ``_Request``, responses are
    ``(status, headers, body)`` tuples for the loopback HTTP layer."""

    def __init__(self, owner: AssertionServer, path: str) -> None:
        super().__init__()
        self.owner = owner
        self.path = path

    @property
    def endpoint_url(self) -> str:
        return self.owner.url(self.path)

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self.owner.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        self.owner._save_token(token, request, self.path)

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return json_response(status, body, dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_error_response(self, request: _Request, error: OAuth2Error) -> Response:
        if not error.description:  # e.g. unsupported_grant_type: say which
            error.description = error.get_error_description() or error.error.replace("_", " ")
        request.record.notes["error"] = error.error
        return super().handle_error_response(request, error)


# -- client authentication -----------------------------------------------------------------------
class PrivateKeyJWT(JWTBearerClientAssertion):
    """Authlib's RFC 7523 §2.2 client authentication, one instance per request, plus: the
    client's own algorithms, ``aud`` = the endpoint URL or the client's audiences, ``iat``
    required, ``exp`` at most ``max_assertion_lifetime`` ahead, ``client_id`` (if sent) =
    ``sub``, and a replay cache for ``jti``."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, authlib: _Authlib) -> None:
        super().__init__(validate_jti=True, leeway=authlib.owner.leeway)
        self.authlib = authlib
        self.owner = authlib.owner
        self.request: _Request | None = None

    @classmethod
    def method(cls, authlib: _Authlib) -> Any:
        return lambda query_client, request: cls(authlib)(query_client, request)

    def __call__(self, query_client: Any, request: _Request) -> RegisteredClient | None:
        self.request = request
        form_client_id = request.form.get("client_id")
        if form_client_id:
            named = query_client(form_client_id)
            if named is not None and named.auth_method != "private_key_jwt":
                return None  # another method's client (federated)
        client = super().__call__(query_client, request)
        if client is not None and form_client_id and form_client_id != client.client_id:
            raise InvalidClientError(
                description=(
                    f"client_id '{form_client_id}' does not match the assertion's sub '{client.client_id}'"
                )
            )
        if client is not None:
            request.record.notes["client_id"] = client.client_id
            request.record.notes["auth_method"] = "private_key_jwt"
        return client

    def resolve_client_public_key(self, client: RegisteredClient) -> Any:
        if client.public_key is None:
            raise InvalidClientError(description=f"client '{client.client_id}' has no public key")
        return client.public_key

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        client = self.request.client  # set by Authlib before this call
        try:
            token = decode_verified(assertion, resolve_key, client.algorithms)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description=_jose_description(exc)) from None
        self.verify_claims(token.claims)
        return token.claims

    def get_audiences(self) -> list[str]:
        client = self.request.client
        audiences = [self.authlib.endpoint_url, *client.audiences, *self.owner.extra_audiences]
        if self.request.uri not in audiences:  # /revoke, /introspect: their own URL too
            audiences.append(self.request.uri)
        return audiences

    def verify_claims(self, claims: Any) -> None:
        self.owner._check_times(
            claims, InvalidClientError, self.owner.max_assertion_lifetime, require_iat=True
        )
        super().verify_claims(claims)  # iss, sub, aud, exp (Authlib); sub == iss; jti replay

    def validate_jti(self, claims: Any, jti: str) -> bool:
        return self.owner._use_jti("client_assertion", claims["sub"], jti)


class FederatedClientAssertion:
    """Client authentication by a token from a trusted external issuer (Entra federated
    credentials): ``client_id`` names a federated client; ``client_assertion`` must be signed by
    the credential's issuer, with its ``sub`` and one of its audiences."""

    def __init__(self, authlib: _Authlib) -> None:
        self.owner = authlib.owner

    def __call__(self, query_client: Any, request: _Request) -> RegisteredClient | None:
        form = request.form
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        client = query_client(form.get("client_id") or "")
        if client is None or client.auth_method != "federated" or client.federated is None:
            return None
        cred = client.federated
        claims = self.owner.verify_external_jwt(
            assertion,
            issuers=[cred.issuer],
            audiences=cred.audiences,
            subject=cred.subject,
            error_cls=InvalidClientError,
        )
        request.client = client
        request.record.notes.update(
            client_id=client.client_id, auth_method="federated", assertion_claims=claims
        )
        return client


# -- grants --------------------------------------------------------------------------------------
class _ScopeMixin:
    def validate_requested_scope(self) -> None:
        scope = self.request.payload.scope
        self.server.validate_requested_scope(scope)
        client = self.request.client
        if scope and client is not None and client.scope is not None:
            extra = set(scope_to_list(scope)) - set(scope_to_list(client.scope))
            if extra:
                raise InvalidScopeError(description=f"scope not allowed: {' '.join(sorted(extra))}")


class ClientCredentials(_ScopeMixin, ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt", "federated_client_assertion"]


class JWTBearer(_ScopeMixin, JWTBearerGrant):
    """Authlib's RFC 7523 §2.1 grant plus the client's algorithms, its audiences, the lifetime
    limit and a ``jti`` replay cache (``jti`` optional unless ``owner.jwt_bearer_require_jti``)."""

    max_lifetime_attr = "max_assertion_lifetime"
    jti_namespace = "jwt_bearer"
    too_far_message: str | None = None

    def __init__(self, request: _Request, server: _Authlib) -> None:
        super().__init__(request, server)
        self.owner: AssertionServer = server.owner
        self.LEEWAY = self.owner.leeway
        self._client: RegisteredClient | None = None

    def resolve_issuer_client(self, issuer: str) -> RegisteredClient | None:
        client = self.owner._client_by_issuer(issuer, kind="client")
        self._client = client
        return client

    def resolve_client_public_key(self, client: RegisteredClient) -> Any:
        return client.public_key

    def authenticate_user(self, subject: str) -> str | None:
        client = self._client
        if client is not None and client.subjects is not None and subject not in client.subjects:
            return None
        return subject

    def has_granted_permission(self, client: RegisteredClient, user: str) -> bool:
        return True

    def get_audiences(self) -> list[str]:
        audiences = [self.server.endpoint_url, *self.owner.extra_audiences]
        if self._client is not None:
            audiences += self._client.audiences
        return audiences

    def check_header(self, headers: dict[str, Any], client: RegisteredClient) -> None:
        pass

    def process_assertion_claims(self, assertion: str) -> Any:
        # Authlib's flow (find the client by "iss", verify, check claims) with the client's
        # algorithms passed to joserfc (its default list lacks PS256 and EdDSA).
        headers, claims = self.extract_assertion(assertion)
        issuer = claims.get("iss")
        if not isinstance(issuer, str):
            raise InvalidGrantError(description="Missing or invalid claim: 'iss'")
        client = self.resolve_issuer_client(issuer)
        if not client:
            raise InvalidGrantError(description=f"No client with issuer '{issuer}' on this server.")
        self.check_header(headers, client)
        try:
            token = decode_verified(
                assertion, self.resolve_client_public_key(client), client.algorithms
            )
        except (JoseError, ValueError) as exc:
            raise InvalidGrantError(description=_jose_description(exc)) from None
        self.verify_claims(token.claims)
        self.request.record.notes.update(client_id=client.client_id, assertion_claims=token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        self.owner._check_times(
            claims,
            InvalidGrantError,
            getattr(self.owner, self.max_lifetime_attr),
            require_iat=self.owner.jwt_bearer_require_iat,
            too_far=self.too_far_message,
        )
        super().verify_claims(claims)  # iss, aud, exp (Authlib)
        jti = claims.get("jti")
        if jti is None and self.owner.jwt_bearer_require_jti:
            raise InvalidGrantError(description="Missing claim: 'jti'")
        if jti is not None and not self.owner._use_jti(self.jti_namespace, claims["iss"], jti):
            raise InvalidGrantError(description="JWT ID is used before.")

    def create_token_response(self) -> Any:
        self.request.record.notes["subject"] = self.request.user
        return super().create_token_response()


class GoogleJWTBearer(JWTBearer):
    """Google's OAuth 2.0 service-account flow: ``kid`` = private_key_id, ``iss`` =
    client_email, ``aud`` = token_uri, a ``scope`` claim, ``iat``, ``exp`` ≤ ``iat`` + 3600,
    optional ``sub`` (domain-wide delegation). RS256 only."""

    max_lifetime_attr = "google_max_lifetime"
    jti_namespace = "google"
    too_far_message = GOOGLE_LIFETIME_ERROR

    def resolve_issuer_client(self, issuer: str) -> RegisteredClient | None:
        client = self.owner._client_by_issuer(issuer, kind="google_service_account")
        self._client = client
        return client

    def check_header(self, headers: dict[str, Any], client: RegisteredClient) -> None:
        kid = headers.get("kid")
        expected = client.keypair.kid if client.keypair else None
        if kid != expected:
            raise InvalidGrantError(
                description=(
                    f"Invalid JWT Signature: header kid {kid!r} is not the private_key_id {expected!r}"
                )
            )

    def verify_claims(self, claims: Any) -> None:
        super().verify_claims(claims)
        if not isinstance(claims.get("iat"), (int, float)):
            raise InvalidGrantError(description="Missing claim: 'iat'")
        if claims["exp"] - claims["iat"] > self.owner.google_max_lifetime:
            raise InvalidGrantError(description=GOOGLE_LIFETIME_ERROR)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            raise InvalidScopeError(
                description="Invalid oauth scope or ID token audience provided."
            )
        self.request.scope = scope

    def validate_requested_scope(self) -> None:
        pass  # the scope is a claim, checked above

    def create_token_response(self) -> Any:
        self.request.record.notes["subject"] = self.request.user
        token = self.generate_token(
            scope=self.request.scope, user=self.request.user, include_refresh_token=False
        )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class TokenExchange(_ScopeMixin, BaseGrant, TokenEndpointMixin):
    """RFC 8693 token exchange. The ``subject_token`` may be a JWT (``…:token-type:jwt`` or
    ``…:id_token``) of a trusted issuer, verified against its JWKS, or an access token this
    server issued (``…:token-type:access_token``). Client authentication is optional; when a
    ``client_assertion`` is sent it must be valid."""

    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt", "federated_client_assertion"]
    ISSUED_TYPES = (TOKEN_TYPE_ACCESS,)

    def validate_token_request(self) -> None:
        form = self.request.form
        owner: AssertionServer = self.server.owner
        if form.get("client_assertion") or form.get("client_assertion_type"):
            client = self.authenticate_token_endpoint_client()
            if not client.check_grant_type(self.GRANT_TYPE):
                raise UnauthorizedClientError(
                    f"The client is not authorized to use 'grant_type={self.GRANT_TYPE}'"
                )
            self.request.client = client
        for name in ("subject_token", "subject_token_type"):
            if not form.get(name):
                raise InvalidRequestError(f"Missing '{name}' in request")
        if form.get("actor_token") and not form.get("actor_token_type"):
            raise InvalidRequestError("'actor_token_type' is required with 'actor_token'")
        requested = form.get("requested_token_type")
        if requested and requested not in self.ISSUED_TYPES:
            raise InvalidRequestError(f"Unsupported requested_token_type '{requested}'")
        targets = [form[n] for n in ("audience", "resource") if form.get(n)]
        if owner.exchange_targets is not None:
            unknown = [t for t in targets if t not in owner.exchange_targets]
            if unknown:
                raise OAuth2Error(
                    error="invalid_target",
                    description=f"Unknown audience/resource: {', '.join(unknown)}",
                )
        subject_token, subject_type = form["subject_token"], form["subject_token_type"]
        if subject_type in (TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN):
            claims = owner.verify_external_jwt(
                subject_token,
                issuers=list(owner.trusted_issuers),
                audiences=owner.subject_token_audiences(),
                subject=None,
                error_cls=InvalidRequestError,
            )
            subject = claims.get("sub")
        elif subject_type == TOKEN_TYPE_ACCESS:
            issued = owner.tokens.get(subject_token)
            if issued is None or time.time() > issued.issued_at + issued.expires_in:
                raise InvalidRequestError(
                    "subject_token is not an active access token of this server"
                )
            claims, subject = {}, issued.subject or issued.client_id
        else:
            raise InvalidRequestError(f"Unsupported subject_token_type '{subject_type}'")
        self.request.user = subject
        self.request.record.notes.update(
            subject=subject,
            subject_claims=claims,
            client_id=getattr(self.request.client, "client_id", None),
        )
        self.validate_requested_scope()

    def create_token_response(self) -> Any:
        token = self.generate_token(
            scope=self.request.payload.scope, user=self.request.user, include_refresh_token=False
        )
        token["issued_token_type"] = TOKEN_TYPE_ACCESS
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class RefreshToken(_ScopeMixin, RefreshTokenGrant):
    """Authlib's refresh_token grant with assertion client authentication; the refresh token is
    rotated (the old one revoked, a new one issued) when ``owner.rotate_refresh_tokens``."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt", "federated_client_assertion"]

    def __init__(self, request: _Request, server: _Authlib) -> None:
        super().__init__(request, server)
        self.owner: AssertionServer = server.owner
        self.INCLUDE_NEW_REFRESH_TOKEN = self.owner.rotate_refresh_tokens

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        token = self.owner.refresh_tokens.get(refresh_token)
        return token if token is not None and token.active else None

    def authenticate_user(self, refresh_token: IssuedToken) -> str:
        return refresh_token.subject or refresh_token.client_id or "client"

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        if self.owner.rotate_refresh_tokens:
            refresh_token.revoked = True

    def create_token_response(self) -> Any:
        self.request.record.notes["client_id"] = self.request.client.client_id
        return super().create_token_response()


class _TokenLookup:
    CLIENT_AUTH_METHODS = ["private_key_jwt", "federated_client_assertion"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        owner: AssertionServer = self.server.owner
        stores = [owner.tokens, owner.refresh_tokens]
        if token_type_hint == "refresh_token":
            stores.reverse()
        for store in stores:
            if token_string in store:
                return store[token_string]
        return None

    def authenticate_endpoint_client(self, request: _Request) -> Any:
        client = super().authenticate_endpoint_client(request)
        request.record.notes["client_id"] = client.client_id
        return client


class Revocation(_TokenLookup, RevocationEndpoint):
    """RFC 7009 (Authlib) at /revoke, clients authenticated by assertion."""

    def revoke_token(self, token: IssuedToken, request: _Request) -> None:
        token.revoked = True
        request.record.notes["revoked"] = token.kind


class Introspection(_TokenLookup, IntrospectionEndpoint):
    """RFC 7662 (Authlib) at /introspect, clients authenticated by assertion."""

    def check_permission(self, token: IssuedToken, client: Any, request: _Request) -> bool:
        return True

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "iat": int(token.issued_at),
            "iss": self.server.owner.issuer,
        }
        if token.scope:
            payload["scope"] = token.scope
        if token.subject:
            payload["sub"] = token.subject
        if token.expires_in is not None:
            payload["exp"] = int(token.issued_at + token.expires_in)
        return payload


def _import_public_key(data: str | bytes | dict[str, Any]) -> Any:
    """A joserfc key from a JWK dict or a public-key PEM (RSA, EC or Ed25519)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from joserfc.jwk import import_key

    if isinstance(data, dict):
        return import_key(data)
    raw = data.encode() if isinstance(data, str) else data
    loaded = load_pem_public_key(raw)
    if isinstance(loaded, rsa.RSAPublicKey):
        kty = "RSA"
    elif isinstance(loaded, ec.EllipticCurvePublicKey):
        kty = "EC"
    elif isinstance(loaded, ed25519.Ed25519PublicKey):
        kty = "OKP"
    else:
        raise ValueError(f"unsupported public key type {type(loaded).__name__}")
    return import_key(raw, kty)  # type: ignore[arg-type]


def _jose_description(exc: Exception) -> str:
    if isinstance(exc, BadSignatureError):
        return "Invalid JWT signature: not made by the registered key"
    if isinstance(exc, InvalidKeyIdError):
        return f"Invalid JWT signature: {exc.description}"
    description = getattr(exc, "description", None) or getattr(exc, "error", None) or str(exc)
    description = description or type(exc).__name__
    return f"Invalid JWT: {description}" if not description.startswith("Invalid") else description


# -- the server ----------------------------------------------------------------------------------
class AssertionServer(LoginMixin, LoopbackServer):
    """The assertion-checking authorization server. Tunables (attributes, change any time):

    ``expires_in`` (3600) and ``google_expires_in`` (3599) of issued tokens;
    ``max_assertion_lifetime`` (300 s: how far ahead ``exp`` may be on /token);
    ``google_max_lifetime`` (3600); ``leeway`` (5 s clock skew); ``extra_audiences`` (more
    accepted ``aud`` values for every client); ``jwt_bearer_require_jti`` (False) and
    ``jwt_bearer_require_iat`` (False) for grant assertions; ``reject_reused_external_tokens``
    (False: an external issuer's token may be presented more than once, as Entra allows);
    ``exchange_targets`` (None: any audience/resource in token exchange); ``exchange_audiences``
    (accepted ``aud`` of subject tokens besides the server URL and token URL);
    ``rotate_refresh_tokens`` (True) and ``refresh_token_ttl`` (None: no expiry);
    ``throttle_after_auth`` (0): how many of the next /token requests get a 429 (Retry-After: 0)
    once their client is authenticated, as a per-client rate limit does (the assertion's
    ``jti`` is then spent). The login endpoints' tunables are in ``login.LoginMixin``.
    """

    def __init__(
        self, *, expires_in: int = 3600, max_assertion_lifetime: int = 300, leeway: int = 5
    ) -> None:
        super().__init__()
        self.expires_in = expires_in
        self.google_expires_in = 3599
        self.max_assertion_lifetime = max_assertion_lifetime
        self.google_max_lifetime = 3600
        self.leeway = leeway
        self.extra_audiences: list[str] = []
        self.jwt_bearer_require_jti = False
        self.jwt_bearer_require_iat = False
        self.reject_reused_external_tokens = False
        self.exchange_targets: set[str] | None = None
        self.exchange_audiences: list[str] = []
        self.clients: dict[str, RegisteredClient] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.trusted_issuers: dict[str, TrustedIssuer] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.refresh_tokens: dict[str, IssuedToken] = {}
        self.rotate_refresh_tokens = True
        self.refresh_token_ttl: int | None = None
        self.throttle_after_auth = 0
        self._seen_jti: set[tuple[str, str, str]] = set()
        self._jwks_cache: dict[str, KeySet] = {}
        self._state_lock = threading.Lock()

        self._token = _Authlib(self, "/token")
        self._token.register_token_generator("default", self._bearer_token)
        self._token.register_client_auth_method(
            "private_key_jwt", PrivateKeyJWT.method(self._token)
        )
        self._token.register_client_auth_method(
            "federated_client_assertion", FederatedClientAssertion(self._token)
        )
        self._token.register_grant(ClientCredentials)
        self._token.register_grant(JWTBearer)
        self._token.register_grant(TokenExchange)
        self._token.register_grant(RefreshToken)
        self._token.register_endpoint(Revocation)
        self._token.register_endpoint(Introspection)

        self._google = _Authlib(self, "/google/token")
        self._google.register_token_generator("default", self._google_token)
        self._google.register_grant(GoogleJWTBearer)

        self._routes: dict[str, tuple[_Authlib, str | None]] = {
            "/token": (self._token, None),
            "/revoke": (self._token, "revocation"),
            "/introspect": (self._token, "introspection"),
            "/google/token": (self._google, None),
        }
        self._init_login()  # authorization code, device code, metadata (login.py)

    # URLs --------------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def token_url(self) -> str:
        return self.url("/token")

    @property
    def google_token_url(self) -> str:
        return self.url("/google/token")

    @property
    def revocation_url(self) -> str:
        return self.url("/revoke")

    @property
    def introspection_url(self) -> str:
        return self.url("/introspect")

    def subject_token_audiences(self) -> list[str]:
        return [self.issuer, self.token_url, *self.exchange_audiences]

    # registration ------------------------------------------------------------------------------
    def register_client(
        self,
        keypair: KeyPair | None = None,
        client_id: str | None = None,
        *,
        public_key: str | bytes | dict[str, Any] | None = None,
        algorithms: Iterable[str] | None = None,
        audience: str | Iterable[str] | None = None,
        issuer: str | None = None,
        subjects: Iterable[str] | None = None,
        scope: str | None = None,
        grant_types: Iterable[str] | None = None,
        redirect_uris: Iterable[str] = (),
    ) -> RegisteredClient:
        """Register a ``private_key_jwt`` client verified by ``keypair`` (or by ``public_key``: a
        PEM or a JWK; then give ``algorithms``). ``client_id`` defaults to ``<alg>-client``
        (``-2``, ``-3`` … when taken); ``audience`` adds accepted ``aud`` values; ``issuer`` is
        the ``iss`` of its jwt-bearer grant assertions (default: the client_id); ``subjects``
        limits their ``sub``; ``scope`` limits what it may request; ``redirect_uris`` (with
        ``authorization_code`` in ``grant_types``) lets it log in (``register_login_client``)."""
        if keypair is None and public_key is None:
            raise ValueError("give keypair or public_key")
        if keypair is not None:
            key = keypair.joserfc_public_key()
            algs = tuple(algorithms or (keypair.alg,))
        else:
            key = _import_public_key(public_key)
            if not algorithms:
                raise ValueError("public_key needs algorithms=")
            algs = tuple(algorithms)
        client_id = client_id or self._free_id(f"{algs[0].lower()}-client")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience or ())
        client = RegisteredClient(
            client_id=client_id,
            keypair=keypair,
            public_key=KeySet([key]),
            algorithms=algs,
            audiences=audiences,
            issuer=issuer or client_id,
            subjects=frozenset(subjects) if subjects is not None else None,
            scope=scope,
            redirect_uris=tuple(redirect_uris),
        )
        if grant_types is not None:
            client.grant_types = tuple(grant_types)
        with self._state_lock:
            self.clients[client_id] = client
        return client

    def register_federated_client(
        self,
        client_id: str = "federated-client",
        *,
        issuer: str,
        subject: str,
        audience: str | Iterable[str] = ENTRA_AUDIENCE,
        scope: str | None = None,
    ) -> RegisteredClient:
        """A client authenticated by tokens of ``issuer`` (trusted for it) with ``sub == subject``
        and ``aud`` in ``audience`` (Entra's ``api://AzureADTokenExchange`` by default)."""
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if issuer not in self.trusted_issuers:
            self.trust_issuer(issuer)
        client = RegisteredClient(
            client_id=client_id,
            auth_method="federated",
            scope=scope,
            federated=FederatedCredential(issuer, subject, audiences),
        )
        with self._state_lock:
            self.clients[client_id] = client
        return client

    def register_service_account(
        self,
        directory: Path | str | None = None,
        *,
        name: str = "sa",
        project_id: str = "oauthcli-test",
        client_email: str | None = None,
        subjects: Iterable[str] | None = None,
        keypair: KeyPair | None = None,
    ) -> ServiceAccount:
        """A Google service account: an RSA key (kid = private_key_id) registered for
        /google/token; the JSON key file is written to ``<directory>/<name>.json`` if given."""
        private_key_id = keypair.kid if keypair else secrets.token_hex(20)
        keypair = keypair or generate_keypair("RS256", kid=private_key_id)
        account = client_email or f"{name}-{secrets.token_hex(3)}"
        client_email = client_email or f"{account}@{project_id}.iam.gserviceaccount.com"
        numeric_id = str(int(hashlib.sha256(client_email.encode()).hexdigest()[:15], 16))
        info = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": private_key_id,
            "private_key": keypair.private_pem,
            "client_email": client_email,
            "client_id": numeric_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.google_token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{client_email}",
            "universe_domain": "googleapis.com",
        }
        path = None
        if directory is not None:
            path = Path(directory) / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(info, indent=2))
            path.chmod(0o600)
        client = RegisteredClient(
            client_id=f"google:{client_email}",
            keypair=keypair,
            public_key=KeySet([keypair.joserfc_public_key()]),
            algorithms=("RS256",),
            issuer=client_email,
            subjects=frozenset(subjects) if subjects is not None else None,
            grant_types=(JWT_BEARER,),
            kind="google_service_account",
        )
        sa = ServiceAccount(
            client_email,
            numeric_id,
            private_key_id,
            project_id,
            keypair,
            self.google_token_url,
            info,
            path,
        )
        with self._state_lock:
            self.clients[client.client_id] = client
            self.service_accounts[client_email] = sa
        return sa

    def issue_refresh_token(
        self,
        client: RegisteredClient | str,
        *,
        scope: str | None = None,
        subject: str | None = None,
    ) -> str:
        """Seed a refresh token for ``client`` (no grant here issues one first), e.g. for a
        profile's ``refresh_token``; redeemed with grant_type=refresh_token and assertion auth."""
        client_id = client if isinstance(client, str) else client.client_id
        token = IssuedToken(
            access_token="rt-" + secrets.token_urlsafe(32),
            grant_type="seeded",
            client_id=client_id,
            scope=scope,
            subject=subject,
            issued_at=time.time(),
            expires_in=self.refresh_token_ttl,
            endpoint="/token",
            kind="refresh_token",
        )
        with self._state_lock:
            self.refresh_tokens[token.access_token] = token
        return token.access_token

    def trust_issuer(
        self,
        issuer: str,
        *,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        algorithms: Iterable[str] = ("RS256",),
    ) -> None:
        """Accept JWTs of ``issuer`` as token-exchange subject tokens (and for federated
        clients). Its keys come from ``jwks``, or ``jwks_uri``, or OIDC discovery."""
        with self._state_lock:
            self.trusted_issuers[issuer] = TrustedIssuer(issuer, jwks_uri, jwks, tuple(algorithms))
            self._jwks_cache.pop(issuer, None)

    def _free_id(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.clients:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _client_by_issuer(self, issuer: str, kind: str) -> RegisteredClient | None:
        for client in list(self.clients.values()):
            if (
                client.kind == kind
                and client.issuer == issuer
                and client.auth_method == "private_key_jwt"
            ):
                return client
        return None

    # checks ------------------------------------------------------------------------------------
    def now(self) -> int:
        return int(time.time())

    def _check_times(
        self,
        claims: dict[str, Any],
        error_cls: type[OAuth2Error],
        max_lifetime: int,
        *,
        require_iat: bool,
        too_far: str | None = None,
    ) -> None:
        """``iat`` (required or not) not in the future; ``exp`` not beyond now + max_lifetime.
        (``exp`` in the past and missing are Authlib's checks.)"""
        iat = claims.get("iat")
        if iat is None and require_iat:
            raise error_cls(description="Missing claim: 'iat'")
        try:
            jwt.JWTClaimsRegistry(leeway=self.leeway).validate(
                {k: claims[k] for k in ("iat", "nbf") if k in claims}
            )
        except JoseError as exc:
            raise error_cls(description=exc.description) from None
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            ahead = exp - self.now()
            if ahead > max_lifetime + self.leeway:
                raise error_cls(
                    description=too_far
                    or (
                        f"Claim 'exp' is {int(ahead)} s ahead: more than the {max_lifetime} s allowed"
                    )
                )

    def _use_jti(self, namespace: str, issuer: str, jti: Any) -> bool:
        """True the first time (namespace, issuer, jti) is seen."""
        entry = (namespace, issuer, str(jti))
        with self._state_lock:
            if entry in self._seen_jti:
                return False
            self._seen_jti.add(entry)
            return True

    def _issuer_keys(self, issuer: str, *, refresh: bool = False) -> KeySet:
        trusted = self.trusted_issuers[issuer]
        with self._state_lock:
            cached = self._jwks_cache.get(issuer)
        if cached is not None and not refresh:
            return cached
        if trusted.jwks is not None:
            data = trusted.jwks
        else:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            jwks_uri = trusted.jwks_uri
            if jwks_uri is None:
                with opener.open(
                    issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10
                ) as r:
                    jwks_uri = json.load(r)["jwks_uri"]
            with opener.open(jwks_uri, timeout=10) as r:
                data = json.load(r)
        keys = KeySet.import_key_set(data)
        with self._state_lock:
            self._jwks_cache[issuer] = keys
        return keys

    def verify_external_jwt(
        self,
        token: str,
        *,
        issuers: list[str],
        audiences: Iterable[str],
        subject: str | None,
        error_cls: type[OAuth2Error],
    ) -> dict[str, Any]:
        """Verify a JWT of a trusted issuer: signature against its JWKS, ``iss`` one of
        ``issuers``, ``aud`` one of ``audiences``, ``sub`` (when given), ``exp`` (required,
        future), ``iat``/``nbf`` (if present). Returns the claims."""
        _, unverified = peek(token, error_cls)
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in issuers or iss not in self.trusted_issuers:
            raise error_cls(description=f"Untrusted token issuer {iss!r}")
        algorithms = self.trusted_issuers[iss].algorithms
        try:
            try:
                verified = decode_verified(token, self._issuer_keys(iss), algorithms)
            except InvalidKeyIdError:  # the issuer may have rotated: fetch its keys again
                verified = decode_verified(token, self._issuer_keys(iss, refresh=True), algorithms)
        except (JoseError, ValueError) as exc:
            raise error_cls(description=_jose_description(exc)) from None
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": iss},
            "aud": {"essential": True, "values": list(audiences)},
            "exp": {"essential": True},
        }
        if subject is not None:
            options["sub"] = {"essential": True, "value": subject}
        claims = verified.claims
        try:
            jwt.JWTClaimsRegistry(leeway=self.leeway, **options).validate(claims)
        except JoseError as exc:
            raise error_cls(description=f"{exc.description} (token of {iss})") from None
        if self.reject_reused_external_tokens:
            jti = claims.get("jti") or hashlib.sha256(token.encode()).hexdigest()
            if not self._use_jti("external", iss, jti):
                raise error_cls(description="JWT ID is used before.")
        return claims

    # tokens ------------------------------------------------------------------------------------
    def _bearer_token(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": self.expires_in if expires_in is None else expires_in,
        }
        if scope:
            token["scope"] = scope
        if include_refresh_token and grant_type in _ISSUES_REFRESH_TOKENS:
            token["refresh_token"] = "rt-" + secrets.token_urlsafe(32)
        return token

    def _google_token(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return {
            "access_token": "ya29." + secrets.token_urlsafe(48),
            "expires_in": self.google_expires_in,
            "token_type": "Bearer",
        }

    def _save_token(self, token: dict[str, Any], request: _Request, endpoint: str) -> None:
        client = request.client
        issued = IssuedToken(
            access_token=token["access_token"],
            grant_type=request.payload.grant_type,
            client_id=getattr(client, "client_id", None),
            scope=token.get("scope") or request.scope,
            subject=request.user if isinstance(request.user, str) else None,
            issued_at=time.time(),
            expires_in=int(token["expires_in"]),
            endpoint=endpoint,
        )
        refresh = None
        if token.get("refresh_token"):
            refresh = IssuedToken(
                access_token=token["refresh_token"],
                grant_type=issued.grant_type,
                client_id=issued.client_id,
                scope=issued.scope,
                subject=issued.subject,
                issued_at=issued.issued_at,
                expires_in=self.refresh_token_ttl,
                endpoint=endpoint,
                kind="refresh_token",
            )
        with self._state_lock:
            self.tokens[issued.access_token] = issued
            if refresh is not None:
                self.refresh_tokens[refresh.access_token] = refresh
        request.record.notes["access_token"] = issued.access_token

    # HTTP --------------------------------------------------------------------------------------
    def _throttled(self, authlib: _Authlib, request: _Request) -> Response:
        try:
            authlib.authenticate_client(request, ["private_key_jwt", "federated_client_assertion"])
        except OAuth2Error as error:
            return authlib.handle_error_response(request, error)
        request.record.notes["error"] = "throttled"
        return json_response(
            429,
            {"error": "temporarily_unavailable", "error_description": "too many requests for this client"},
            {"Retry-After": "0"},
        )  # fmt: skip

    def dispatch(self, record: RecordedRequest) -> Response:
        page = self._get_routes.get(record.path)
        if page is not None and record.method == "GET":
            return page(record)
        authlib, endpoint = self._routes.get(record.path, (None, None))
        if authlib is None and page is not None:
            return json_response(
                405, {"error": "invalid_request", "error_description": f"{record.path} takes GET"},
                {"Allow": "GET"},
            )  # fmt: skip
        if authlib is None:
            return json_response(404, {"error": "not_found", "error_description": record.path})
        if record.method != "POST":
            return json_response(
                405,
                {"error": "invalid_request", "error_description": "the token endpoint takes POST"},
                {"Allow": "POST"},
            )
        ctype = (record.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return json_response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": (
                        f"Content-Type must be application/x-www-form-urlencoded, not {ctype or 'none'}"
                    ),
                },
            )
        names = [name for name, _ in record.form_list]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            return json_response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": f"repeated parameter(s): {', '.join(repeated)}",
                },
            )
        request = _Request(record, self.url(record.path))
        if record.path == "/token" and self.throttle_after_auth > 0:
            self.throttle_after_auth -= 1
            return self._throttled(authlib, request)
        if endpoint is not None:
            return authlib.create_endpoint_response(endpoint, request)
        return authlib.create_token_response(request)
