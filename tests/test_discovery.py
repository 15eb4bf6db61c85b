"""Issuer discovery (OpenID Connect, then RFC 8414) and JWK Sets: fetched safely, cached with a TTL,
explicit endpoints winning over discovered ones."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from oauthcli.config.model import Profile
from oauthcli.errors import BadResponseError, ConfigError, ProviderError, TransientError
from oauthcli.wire import discovery
from oauthcli.world import Options, World
from tests.conftest import PLANTED, run, write_profiles
from tests.server import LoopbackServer, Request, Response, RotatingProvider
from tests.test_validate import EC_KEY, OPAQUE, RSA_KEY, closed_port, mint, public_jwk

OIDC = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(tmp_path: Path, clock: Clock) -> World:
    return World(environ={}, clock=clock, sleep=lambda s: None,
                 options=Options(state_dir=str(tmp_path / "state")))  # fmt: skip


def profile(issuer: str) -> Profile:
    return Profile(name="p", issuer=issuer, retries=0)


def publish_both(server: LoopbackServer) -> str:
    """Both documents at the origin, different enough to tell which one was used."""
    issuer = server.url("")
    common = {"issuer": issuer, "token_endpoint": server.url("/token"),
              "introspection_endpoint": server.url("/introspect"),
              "revocation_endpoint": server.url("/revoke")}  # fmt: skip
    server.reply(OIDC, body={**common, "jwks_uri": server.url("/jwks-oidc")})
    server.reply(RFC8414, body={**common, "jwks_uri": server.url("/jwks-8414")})
    return issuer


# --- well-known URLs and discovery ------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://id.example", ["https://id.example/.well-known/openid-configuration",
                                "https://id.example/.well-known/oauth-authorization-server"]),
        ("https://id.example/tenant/v2/", [
            "https://id.example/tenant/v2/.well-known/openid-configuration",
            "https://id.example/.well-known/oauth-authorization-server/tenant/v2"]),
    ],
)  # fmt: skip
def test_well_known_urls(issuer: str, expected: list[str]) -> None:
    assert discovery.well_known_urls(issuer) == expected


def test_openid_configuration_comes_first(rt: World, server: LoopbackServer) -> None:
    issuer = publish_both(server)
    metadata = discovery.discover(rt, profile(issuer))
    assert metadata["jwks_uri"] == server.url("/jwks-oidc")
    assert metadata["token_endpoint"] == server.url("/token")
    assert server.hits(RFC8414) == []


def test_rfc8414_only_with_an_issuer_path(rt: World, server: LoopbackServer) -> None:
    issuer = server.url("/tenant-1")
    server.reply(f"{RFC8414}/tenant-1", body={"issuer": issuer, "jwks_uri": server.url("/k")})
    metadata = discovery.discover(rt, profile(issuer))
    assert metadata["jwks_uri"] == server.url("/k")
    assert len(server.hits(f"/tenant-1{OIDC}")) == 1  # tried first, 404


def test_metadata_is_cached_in_a_0600_file_with_a_ttl(
    rt: World, server: LoopbackServer, clock: Clock, tmp_path: Path
) -> None:
    issuer = publish_both(server)
    discovery.discover(rt, profile(issuer))
    discovery.discover(rt, profile(issuer))
    assert len(server.hits(OIDC)) == 1
    [cache] = (tmp_path / "state").glob(".discovery-*.json")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert json.loads(cache.read_text())["key"] == issuer
    clock.now += discovery.CACHE_TTL + 1
    discovery.discover(rt, profile(issuer))
    assert len(server.hits(OIDC)) == 2


def test_each_issuer_has_its_own_cache(rt: World, server: LoopbackServer) -> None:
    publish_both(server)
    server.reply(f"{RFC8414}/other", body={"jwks_uri": "https://other.example/k"})
    assert discovery.discover(rt, profile(server.url("")))["jwks_uri"].endswith("/jwks-oidc")
    other = discovery.discover(rt, profile(server.url("/other")))
    assert other["jwks_uri"] == "https://other.example/k"


def test_no_metadata_is_a_config_error(rt: World, server: LoopbackServer) -> None:
    server.reply(OIDC, status=302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(ConfigError) as caught:
        discovery.discover(rt, profile(server.url("")))
    assert "no metadata found for issuer" in caught.value.message
    assert "HTTP 302" in caught.value.message and "HTTP 404" in caught.value.message
    assert list(rt.store.directory.glob(".discovery-*")) == []


def test_unreachable_issuer_is_transient(rt: World) -> None:
    with pytest.raises(TransientError, match="cannot connect"):
        discovery.discover(rt, profile(f"http://127.0.0.1:{closed_port()}"))


def test_plain_http_issuer_is_refused(rt: World) -> None:
    with pytest.raises(ConfigError, match="refusing plain http://"):
        discovery.discover(rt, profile("http://id.example.com"))


# --- JWK Sets ---------------------------------------------------------------------------------


def test_jwks_cached_then_refetched_on_demand(
    rt: World, server: LoopbackServer, clock: Clock
) -> None:
    url = server.reply("/jwks", body={"keys": [public_jwk(RSA_KEY, "a")]})
    keys, fetched = discovery.jwks(rt, profile(server.url("")), url)
    assert fetched and keys["keys"][0]["kid"] == "a"
    assert discovery.jwks(rt, profile(server.url("")), url)[1] is False
    assert discovery.jwks(rt, profile(server.url("")), url, refetch=True)[1] is True
    clock.now += discovery.JWKS_TTL + 1
    assert discovery.jwks(rt, profile(server.url("")), url)[1] is True
    assert len(server.hits("/jwks")) == 3


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (Response(200, {"not": "keys"}), BadResponseError),
        (Response(404, {"error": "not_found"}), ProviderError),
        (Response(302, headers={"Location": "https://evil.example/jwks"}), BadResponseError),
        (Response(200, "x" * (1024 * 1024 + 1)), BadResponseError),
    ],
)
def test_unusable_jwks(
    rt: World, server: LoopbackServer, response: Response, error: type[Exception]
) -> None:
    url = server.reply("/jwks", response)
    with pytest.raises(error):
        discovery.jwks(rt, profile(server.url("")), url)
    assert list(rt.store.directory.glob(".jwks-*")) == []


# --- through the CLI --------------------------------------------------------------------------


def issuer_only_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: str,
                         **extra: Any) -> None:  # fmt: skip
    spec = {"issuer": issuer, "refresh_token": "rt-initial-0001", "retries": 0,
            "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                     "client_id": "cid", "client_secret": PLANTED}, **extra}  # fmt: skip
    path = write_profiles(tmp_path / "oauthcli.yaml", {"p": spec})
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(path))


def test_refresh_uses_the_discovered_token_endpoint_rfc8414_path(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RotatingProvider()
    server.route("/t/token", provider)
    issuer = server.url("/t")
    server.reply(f"{RFC8414}/t", body={"issuer": issuer, "token_endpoint": server.url("/t/token")})
    issuer_only_profiles(tmp_path, monkeypatch, issuer)
    result = run("refresh", "p")
    assert result.code == 0, result
    assert result.stdout == "at-0001-abcdefgh\n"
    assert result.stderr == ""
    assert provider.counter == 1


def test_mismatched_issuer_in_metadata_is_a_warning(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/token", RotatingProvider())
    server.reply(OIDC, body={"issuer": "https://someone-else.example",
                             "token_endpoint": server.url("/token")})  # fmt: skip
    issuer_only_profiles(tmp_path, monkeypatch, server.url(""))
    result = run("refresh", "p")
    assert result.code == 0, result
    assert "names issuer https://someone-else.example" in result.stderr


def introspection(request: Request) -> Response:
    form = request.form
    if form.get("token") != OPAQUE or form.get("token_type_hint") != "access_token":
        return Response(200, {"active": False})
    if form.get("client_id") != "cid" or form.get("client_secret") != PLANTED:
        return Response(401, {"error": "invalid_client"})
    return Response(200, {"active": True, "client_id": "cid", "scope": "read",
                          "exp": 4_000_000_000})  # fmt: skip


def test_validate_discovers_jwks_uri_and_introspection_endpoint(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = publish_both(server)
    server.reply("/jwks-oidc", body={"keys": [public_jwk(EC_KEY, "ec-1")]})
    server.reply("/introspect", body={"active": True})
    issuer_only_profiles(tmp_path, monkeypatch, issuer)
    token = mint(EC_KEY, "ES256", "ec-1", iss=issuer)
    result = run("validate", "p", "--token", token, "-f", "json")
    assert result.code == 0, result
    found = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert found["signature"]["detail"].endswith("from " + server.url("/jwks-oidc"))
    assert found["iss"]["result"] == "pass"
    assert found["introspection"]["result"] == "pass"
    assert len(server.hits(OIDC)) == 1  # discovered once for both checks
    assert server.hits("/jwks-8414") == []
    assert token not in result.stdout + result.stderr


def test_introspection_uses_the_profiles_client_credentials(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = publish_both(server)
    server.route("/introspect", introspection)
    issuer_only_profiles(tmp_path, monkeypatch, issuer)
    result = run("validate", "p", "--token", OPAQUE, "-f", "json")
    assert result.code == 0, result
    detail = {c["name"]: c["detail"] for c in json.loads(result.stdout)["checks"]}
    assert detail["introspection"] == (
        "active at 127.0.0.1; client_id cid; scope read; expires at 2096-10-02T07:06:40Z"
    )
    assert PLANTED not in result.stdout + result.stderr


def test_explicit_endpoints_override_discovered_ones(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = publish_both(server)
    server.reply("/my-jwks", body={"keys": [public_jwk(RSA_KEY, "rsa-1")]})
    server.reply("/my-introspect", body={"active": True})
    validate = {"jwks_url": server.url("/my-jwks"),
                "introspection_url": server.url("/my-introspect")}  # fmt: skip
    issuer_only_profiles(tmp_path, monkeypatch, issuer, validate=validate)
    result = run("validate", "p", "--token", mint(iss=issuer), "-f", "json")
    assert result.code == 0, result
    assert server.hits(OIDC) == [] and server.hits("/introspect") == []
    assert len(server.hits("/my-introspect")) == 1


def test_validate_with_an_unreachable_issuer_is_exit_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer_only_profiles(tmp_path, monkeypatch, f"http://127.0.0.1:{closed_port()}")
    result = run("validate", "p", "--token", OPAQUE, "-f", "json")
    assert result.code == 5, result
    found = {c["name"]: c["result"] for c in json.loads(result.stdout)["checks"]}
    assert found["introspection"] == "error"
    assert found["signature"] == "skipped"  # opaque: no JWKS needed
    assert result.stderr.startswith("error: profile 'p': introspection could not be checked: ")


def test_forget_revoke_uses_the_discovered_revocation_endpoint(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RotatingProvider()
    server.route("/token", provider)
    server.route("/revoke", provider.revoke)
    issuer_only_profiles(tmp_path, monkeypatch, publish_both(server))
    assert run("refresh", "p").code == 0
    result = run("forget", "p", "--revoke")
    assert result.code == 0, result
    assert provider.revoked == ["rt-rotated-0001"]
