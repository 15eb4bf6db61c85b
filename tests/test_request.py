"""Request building and response parsing, as unit tests with `responses` (no sockets)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pytest
import responses

from oauthcli.config.load import parse
from oauthcli.config.model import Profile
from oauthcli.config.refs import Resolver
from oauthcli.token import Token
from oauthcli.wire import http
from oauthcli.wire.request import TokenRequest, build_request, describe, is_loopback
from oauthcli.wire.response import check_response

URL = "https://auth.example.com/token"
NASTY = "p%c ^*&=+#d e"  # the characters the reference product could not send


def profile(**kwargs: Any) -> Profile:
    data = {"profiles": {"p": {"token_url": URL, **kwargs}}}
    config = parse(json.dumps(data), "test")
    return config.profile("p")


def build(
    prof: Profile, env: dict[str, str] | None = None, refresh_token: str = "rt-1"
) -> TokenRequest:
    return build_request(prof, Resolver("p", env or {}, lambda: refresh_token))


def test_mapping_body_is_form_encoded_by_default() -> None:
    req = build(profile(body={"grant_type": "refresh_token", "refresh_token": "${refresh_token}"}))
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.body.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt-1"],
    }


def test_content_type_header_decides_json() -> None:
    req = build(profile(headers={"Content-Type": "application/json"}, body={"a": "${env:X}", "n": 3}),
                {"X": "x-value"})  # fmt: skip
    assert json.loads(req.body) == {"a": "x-value", "n": 3}


def test_body_format_json() -> None:
    req = build(profile(body_format="json", body={"grant_type": "client_credentials"}))
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.body) == {"grant_type": "client_credentials"}


def test_string_body_percent_encodes_substituted_values_only() -> None:
    body = "grant_type=password&username=u&password=${env:PW}&client_secret=${env:CS}"
    req = build(profile(body=body), {"PW": NASTY, "CS": "a b"})
    assert req.body is not None
    text = req.body.decode()
    assert text.startswith("grant_type=password&username=u&password=")
    form = {k: v[0] for k, v in parse_qs(text).items()}
    assert form["password"] == NASTY
    assert form["client_secret"] == "a b"


def test_string_json_body_escapes_substituted_values() -> None:
    req = build(profile(body='{"secret": "${env:S}"}', body_format="json"), {"S": 'quo"te\\'})
    assert json.loads(req.body) == {"secret": 'quo"te\\'}


def test_basic_auth_follows_rfc6749_2_3_1() -> None:
    req = build(profile(auth={"type": "basic", "client_id": "id:1", "client_secret": NASTY}))
    scheme, encoded = req.headers["Authorization"].split(" ")
    client_id, secret = base64.b64decode(encoded).decode().split(":")
    assert scheme == "Basic"
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("id:1", NASTY)


def test_dollar_dollar_is_a_literal_dollar() -> None:
    req = build(profile(params={"q": "a$$b${env:X:-dflt}"}))
    assert req.params == {"q": "a$bdflt"}


def test_method_params_and_headers() -> None:
    req = build(profile(method="get", params={"grant_type": "refresh_token"}, headers={"X-A": "1"}))
    assert (req.method, req.params, req.headers["X-A"]) == (
        "GET",
        {"grant_type": "refresh_token"},
        "1",
    )
    assert req.body is None


def test_dry_run_description_redacts_secrets() -> None:
    req = build(profile(body={"client_secret": "${env:CS}", "refresh_token": "${refresh_token}"},
                        auth={"type": "basic", "client_id": "c", "client_secret": "literal-secret-1"}),
                {"CS": "from-env-secret-value"}, refresh_token="refresh-token-value-77")  # fmt: skip
    text = describe(req)
    for secret in ("from-env-secret-value", "refresh-token-value-77", "literal-secret-1"):
        assert secret not in text
    assert "Authorization: Basic ****" in text


@responses.activate
def test_form_encoded_response_is_understood() -> None:
    responses.post(URL, body="access_token=gho_abc&token_type=bearer&expires_in=28800",
                   content_type="application/x-www-form-urlencoded; charset=utf-8")  # fmt: skip
    prof = profile()
    result = http.send(build(prof), prof, http.new_session())
    data = check_response(result, prof, "auth.example.com")
    token = Token.from_response(data, prof.response, now=1000.0)
    assert token is not None
    assert (token.access_token, token.expires_at) == ("gho_abc", 29800.0)


@responses.activate
def test_nested_response_paths_and_string_expires_in() -> None:
    responses.post(URL, json={"data": {"token": "nested-at", "ttl": "120"}})
    prof = profile(response={"access_token": "data.token", "expires_in": "data.ttl"})
    data = check_response(http.send(build(prof), prof, http.new_session()), prof, "h")
    token = Token.from_response(data, prof.response, now=0.0)
    assert token is not None and (token.access_token, token.expires_at) == ("nested-at", 120.0)


def test_missing_expires_in_uses_jwt_exp() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": 4242}).encode()).decode().rstrip("=")
    token = Token.from_response({"access_token": f"e30.{payload}.sig"}, {}, now=0.0)
    assert token is not None and token.expires_at == 4242.0


def test_missing_expiry_is_unknown() -> None:
    token = Token.from_response({"access_token": "opaque"}, {}, now=100.0)
    assert token is not None and token.expires_at is None
    assert token.is_expired(now=100.0 + 3600 - 59, leeway=60, assume_ttl=3600)
    assert not token.is_expired(now=100.0 + 3600 - 61, leeway=60, assume_ttl=3600)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), ("31", None), ("soon", "backoff")],
)
def test_retry_after(header: str, expected: Any) -> None:
    delay = http.retry_after(header, 0)
    if expected == "backoff":
        assert delay is not None and 0.25 <= delay <= 0.5
    else:
        assert delay == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("10.0.0.1", False), ("example.com", False), ("127.0.0.1.nip.io", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
