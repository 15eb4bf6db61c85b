"""Defects found in review: each test failed before its fix."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PLANTED, assert_clean_failure, run
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
    state = json.loads((Path(os.environ["OAUTHCLI_STATE_DIR"]) / "p.json").read_text())
    assert state["rotated_refresh_token"] == "rt-rotated-0001"
    server.reply("/token", Response(200, {"access_token": "fixed"}))
    assert run("token", "p").stdout == "fixed\n"  # the stored placeholder is never served
    assert server.hits("/token")[-1].form["refresh_token"] == "rt-rotated-0001"
