"""pytest fixtures for the assertion server and the fake GitHub Actions OIDC issuer.

Register once in the root conftest (``pytest_plugins = [..., "tests.assertion_server.plugin"]``)
or import the fixture functions (``fixture_<name>``, registered under ``<name>``) into a test
module: ``from tests.assertion_server.plugin import fixture_assertion_server  # noqa: F401``
(the ``fixture_`` names keep ruff's F811 quiet). All function-scoped: every test gets fresh
servers (new ports, no clients, no recorded requests, an empty replay cache).

``github_oidc``            a started :class:`FakeGitHubOIDC`
``github_actions_env``     the same, with ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN set in os.environ
``assertion_server``       a started :class:`AssertionServer` that trusts ``github_oidc``
``make_keypair``           ``make_keypair("ES256", name=None, kid=None, fmt="pkcs8")`` → KeyPair
                           with PEM files under ``tmp_path/keys``
``make_assertion_client``  ``make_assertion_client("PS256", **register_client_kwargs)`` → a
                           registered private_key_jwt client (``.client_id``, ``.keypair``)
``make_login_client``      ``make_login_client("ES256", **register_client_kwargs)`` → a
                           private_key_jwt client that may log in (authorization code + PKCE,
                           device code, refresh token; loopback redirect URIs, any port)
``federated_client``       client ``federated-client`` authenticated by github_oidc tokens with
                           the default subject and aud ``api://AzureADTokenExchange``
``google_service_account`` a registered service account, key file at ``tmp_path/sa.json``
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .github import FakeGitHubOIDC
from .keys import KeyPair, generate_keypair
from .server import ENTRA_AUDIENCE, AssertionServer, RegisteredClient, ServiceAccount


@pytest.fixture(name="github_oidc")
def fixture_github_oidc() -> Iterator[FakeGitHubOIDC]:
    server = FakeGitHubOIDC()
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="github_actions_env")
def fixture_github_actions_env(
    github_oidc: FakeGitHubOIDC, monkeypatch: pytest.MonkeyPatch
) -> FakeGitHubOIDC:
    for name, value in github_oidc.env.items():
        monkeypatch.setenv(name, value)
    return github_oidc


@pytest.fixture(name="assertion_server")
def fixture_assertion_server(github_oidc: FakeGitHubOIDC) -> Iterator[AssertionServer]:
    server = AssertionServer()
    server.trust_issuer(github_oidc.issuer)
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="make_keypair")
def fixture_make_keypair(tmp_path: Path) -> Callable[..., KeyPair]:
    def make(
        alg: str = "RS256", name: str | None = None, *, kid: str | None = None, fmt: str = "pkcs8"
    ) -> KeyPair:
        return generate_keypair(alg, tmp_path / "keys", name, kid=kid, fmt=fmt)

    return make


@pytest.fixture(name="make_assertion_client")
def fixture_make_assertion_client(
    assertion_server: AssertionServer, make_keypair: Callable[..., KeyPair]
) -> Callable[..., RegisteredClient]:
    def make(alg: str = "RS256", **kwargs: Any) -> RegisteredClient:
        return assertion_server.register_client(make_keypair(alg), **kwargs)

    return make


@pytest.fixture(name="make_login_client")
def fixture_make_login_client(
    assertion_server: AssertionServer, make_keypair: Callable[..., KeyPair]
) -> Callable[..., RegisteredClient]:
    def make(alg: str = "ES256", **kwargs: Any) -> RegisteredClient:
        return assertion_server.register_login_client(make_keypair(alg), **kwargs)

    return make


@pytest.fixture(name="federated_client")
def fixture_federated_client(
    assertion_server: AssertionServer, github_oidc: FakeGitHubOIDC
) -> RegisteredClient:
    return assertion_server.register_federated_client(
        "federated-client",
        issuer=github_oidc.issuer,
        subject=github_oidc.subject,
        audience=ENTRA_AUDIENCE,
    )


@pytest.fixture(name="google_service_account")
def fixture_google_service_account(
    assertion_server: AssertionServer, tmp_path: Path
) -> ServiceAccount:
    return assertion_server.register_service_account(tmp_path, name="sa")
