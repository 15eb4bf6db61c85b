"""Defects found in review: each test failed before its fix."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PLANTED, age_state, assert_clean_failure, run, state_file
from tests.server import LoopbackServer, Response


def test_discovered_urls_are_never_resolved(
    profiles_file: Any, server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An issuer's metadata must not run ${cmd:} or read ${env:} on this machine."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "AKIA-very-secret-key")
    evil = (
        server.url("/token")
        + f"?x=${{cmd:touch {tmp_path}/PWNED}}&leak=${{env:AWS_SECRET_ACCESS_KEY}}"
    )
    server.reply("/.well-known/openid-configuration", Response(200, {"token_endpoint": evil}))
    server.reply("/token", Response(200, {"access_token": "discovered"}))
    profiles_file({"p": {"token_url": None, "issuer": server.url(""),
                         "body": {"grant_type": "client_credentials"}}})  # fmt: skip
    result = run("token", "p")
    assert result.code == 0, result
    assert not (tmp_path / "PWNED").exists()
    hit = server.hits("/token")[0]
    assert hit.query["leak"] == ["${env:AWS_SECRET_ACCESS_KEY}"]


def test_no_proxy_for_plain_http_to_loopback(
    profiles_file: Any, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http:// is allowed to loopback only because it never leaves the host."""
    proxy = LoopbackServer().start()
    try:
        proxy.route("/token", lambda r: Response(200, {"access_token": "via-proxy"}))
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        monkeypatch.setenv("http_proxy", proxy.url(""))
        server.reply("/token", Response(200, {"access_token": "direct"}))
        profiles_file({"p": {"proxy": proxy.url("")}})
        assert run("refresh", "p").stdout == "direct\n"
        assert proxy.requests == []
    finally:
        proxy.stop()


def test_verbose_redacts_tokens_at_mapped_paths(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/token", Response(200, {"data": {"jwt": "AT-mapped-path-SECRET-1234",
                                                   "rt": "RT-rotated-mapped-SECRET-5678"}}))  # fmt: skip
    profiles_file({"p": {"response": {"access_token": "data.jwt", "refresh_token": "data.rt"}}})
    result = run("-v", "refresh", "p")
    assert result.code == 0 and result.stdout == "AT-mapped-path-SECRET-1234\n"
    assert "SECRET" not in result.stderr and "debug: response" in result.stderr


def test_show_masks_literal_secrets_with_dollars(profiles_file: Any) -> None:
    profiles_file({"p": {"body": {"client_secret": "Xy$Zw9-literal-secret",
                                  "password": "pa$$w0rd-literal",
                                  "refresh_token": "${env:UNSET_X:-literal-default-secret}"}}})  # fmt: skip
    result = run("show", "p")
    assert result.code == 0, result
    for literal in ("Xy$Zw9", "w0rd-literal", "literal-default", PLANTED):
        assert literal not in result.stdout
    body = yaml.safe_load(result.stdout)["body"]
    assert body["client_secret"] == "****cret"
    assert body["refresh_token"] == "****cret  (from ${env:UNSET_X:-…})"


def test_rotated_refresh_token_is_kept_when_the_answer_is_unusable(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, {"token": "misnamed", "refresh_token": "rt-rotated-0001"}))
    profiles_file()
    assert_clean_failure(run("refresh", "p"), 6, "without an access token")
    state = json.loads(state_file(os.environ["OAUTHCLI_STATE_DIR"]).read_text())
    assert state["rotated_refresh_token"] == "rt-rotated-0001"
    server.reply("/token", Response(200, {"access_token": "fixed"}))
    assert run("token", "p").stdout == "fixed\n"  # the stored placeholder is never served
    assert server.hits("/token")[-1].form["refresh_token"] == "rt-rotated-0001"


# --- minor findings -----------------------------------------------------------------------------


def test_fast_path_refuses_command_options_before_the_command(
    profiles_file: Any, rotating: Any
) -> None:
    from oauthcli.entry import parse

    assert parse(["--force", "token", "p"]) is None
    assert parse(["-f", "json", "token", "p"]) is None
    assert parse(["-q", "token", "p", "--force"]) == ("token", ["p"], {"quiet": True, "force": True})
    profiles_file()
    assert run("--force", "token", "p").code == 2


def test_header_format_refuses_header_injection(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/token", Response(200, {"access_token": "tok",
                                          "token_type": "Bearer X\r\nX-Injected: yes"}))  # fmt: skip
    profiles_file()
    assert_clean_failure(run("refresh", "p", "-f", "header"), 6, "cannot go in an HTTP header")


@pytest.mark.parametrize("expires_in", ["NaN", "inf", 1e12, "-inf"])
def test_nonsense_expires_in_means_unknown_expiry(
    profiles_file: Any, server: LoopbackServer, expires_in: Any
) -> None:
    server.reply("/token", Response(200, {"access_token": "tok", "expires_in": expires_in}))
    profiles_file({"p": {"assume_ttl": 100}})
    assert run("token", "p").stdout == "tok\n"
    assert json.loads(run("token", "p", "-f", "json").stdout)["expires_at"] is None
    assert run("token", "p", "--min-valid", "200").code == 0
    assert len(server.hits("/token")) == 1  # 200 s is capped at half of assume_ttl (SPEC §13)
    age_state(60)
    assert run("token", "p", "--min-valid", "200").code == 0
    assert len(server.hits("/token")) == 2  # the last one refreshed: 40 s left < 50


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_min_valid_must_be_finite(profiles_file: Any, rotating: Any, value: str) -> None:
    profiles_file()
    assert_clean_failure(run("token", "p", "--min-valid", value), 2, "--min-valid must be")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"token_url": "https://[::1/token"}, "invalid URL"),
        ({"cert": "/nonexistent/cert.pem"}, "field cert: no such file"),
        ({"verify": "/nonexistent/ca.pem"}, "field verify: no such file"),
        ({"headers": {"X-A": "${env:NL_VALUE}"}}, "a header value cannot be sent"),
        ({"headers": {"X-A": "snow ☃"}}, "a header value cannot be sent"),
    ],
)
def test_configuration_mistakes_are_exit_3(
    profiles_file: Any,
    rotating: Any,
    monkeypatch: pytest.MonkeyPatch,
    spec: dict[str, Any],
    fragment: str,
) -> None:
    monkeypatch.setenv("NL_VALUE", "a\nb")
    profiles_file({"p": spec})
    assert_clean_failure(run("refresh", "p"), 3, fragment)


def test_state_dir_under_a_file_is_exit_3(
    profiles_file: Any, rotating: Any, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    profiles_file()
    assert_clean_failure(
        run("--state-dir", str(tmp_path / "afile" / "x"), "refresh", "p"), 3, "state"
    )


def test_literal_secrets_are_not_copied_into_the_parsed_cache(
    profiles_file: Any, rotating: Any
) -> None:
    profiles_file()  # its body has a literal client_secret
    assert run("token", "p").code == 0
    assert not (Path(os.environ["OAUTHCLI_STATE_DIR"]) / ".profiles-cache.json").exists()


def test_url_password_and_plain_text_tokens_are_not_echoed(
    profiles_file: Any, server: LoopbackServer
) -> None:
    url = server.url("/token").replace("http://", "http://svc:Lit3ralPw0rd@")
    server.reply("/token", Response(400, {"error": "invalid_client"}))
    profiles_file({"p": {"token_url": url}})
    assert_clean_failure(run("refresh", "p"), 4, "invalid_client", secrets=("Lit3ralPw0rd",))
    assert "Lit3ralPw0rd" not in run("list").stdout
    assert "Lit3ralPw0rd" not in run("refresh", "p", "--dry-run").stdout
    server.reply(
        "/token", Response(200, "QmFyZVRva2VuU2VjcmV0VmFsdWU=", {"Content-Type": "text/plain"})
    )
    profiles_file()
    assert_clean_failure(
        run("refresh", "p"), 6, "neither JSON nor form", secrets=("QmFyZVRva2VuU2VjcmV0VmFsdWU",)
    )


def test_corrupt_files_set_aside_in_one_second_all_survive(
    profiles_file: Any, rotating: Any
) -> None:
    state = Path(os.environ["OAUTHCLI_STATE_DIR"])
    profiles_file()
    assert run("token", "p").code == 0
    path = state_file(state)
    for content in ("{one", "{two"):
        path.write_text(content)
        run("list")  # reading for list never moves anything
        rotating.live = "rt-initial-0001"
        run("token", "p", "--force")
        path.unlink()
    kept = sorted(p.read_text() for p in state.glob("p@*.json.corrupt-*"))
    assert kept == ["{one", "{two"]


def test_profile_names_cannot_start_with_a_dot(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"profiles": {".profiles-cache": {"token_url": "https://x/t"}}}))
    assert_clean_failure(
        run("-c", str(path), "token", ".profiles-cache"), 3, "invalid profile name"
    )


def test_verify_false_warns_on_validate_too(
    profiles_file: Any, rotating: Any, server: LoopbackServer
) -> None:
    server.reply("/introspect", Response(200, {"active": True}))
    profiles_file(
        {"p": {"verify": False, "validate": {"introspection_url": server.url("/introspect")}}}
    )
    result = run("validate", "p", "--refresh")
    assert "warning: profile 'p': verify: false" in result.stderr
    assert result.stderr.count("verify: false") == 1
