"""Test infrastructure: an authorization server that checks signed assertions (RFC 7523
client authentication and grant, Google service accounts, RFC 8693 token exchange, Entra-style
federated client assertions; the authorization code and device grants of ``oauthcli login``,
with the same client authentication) and a fake GitHub Actions OIDC issuer. See ``plugin`` for
the fixtures and ``server``/``login``/``github`` for the APIs."""

from .github import DEFAULT_SUBJECT, FakeGitHubOIDC
from .keys import ALGORITHMS, KeyPair, generate_keypair
from .login import DEVICE_CODE, LOGIN_GRANT_TYPES, LOOPBACK_REDIRECT_URIS
from .loopback import RecordedRequest
from .server import (
    ASSERTION_TYPE,
    ENTRA_AUDIENCE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_JWT,
    AssertionServer,
    RegisteredClient,
    ServiceAccount,
)

__all__ = [
    "ALGORITHMS",
    "ASSERTION_TYPE",
    "DEFAULT_SUBJECT",
    "DEVICE_CODE",
    "ENTRA_AUDIENCE",
    "JWT_BEARER",
    "LOGIN_GRANT_TYPES",
    "LOOPBACK_REDIRECT_URIS",
    "TOKEN_EXCHANGE",
    "TOKEN_TYPE_ACCESS",
    "TOKEN_TYPE_ID_TOKEN",
    "TOKEN_TYPE_JWT",
    "AssertionServer",
    "FakeGitHubOIDC",
    "KeyPair",
    "RecordedRequest",
    "RegisteredClient",
    "ServiceAccount",
    "generate_keypair",
]
