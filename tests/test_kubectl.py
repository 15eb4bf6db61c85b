"""`oauthcli token P -f exec-credential`: a Kubernetes ExecCredential (SPEC §11).

The format directly, then the real kubectl against the TLS fake API server of
tests/k8s_fixture.py, with oauthcli as the kubeconfig's exec credential plugin, in v1 and, through
``$KUBERNETES_EXEC_INFO``, v1beta1. (The machine's kubectl is gcloud's dispatcher: it may run
the plugin more than once per command, so no test counts plugin runs.)
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from oauthcli import entry
from tests.conftest import SCRIPT, assert_clean_failure, run
from tests.k8s_fixture import EXEC_V1, EXEC_V1BETA1, FakeKubeAPI, run_kubectl, write_kubeconfig
from tests.server import LoopbackServer, Response


def exec_info(api_version: str) -> str:
    return json.dumps({"kind": "ExecCredential", "apiVersion": api_version,
                       "spec": {"interactive": False}})  # fmt: skip


def test_v1_by_default(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    result = run("token", "p", "-f", "exec-credential")
    assert result.code == 0 and result.stderr == "", result
    credential = json.loads(result.stdout)
    assert credential["apiVersion"] == EXEC_V1 and credential["kind"] == "ExecCredential"
    assert credential["status"]["token"] == "at-0001-abcdefgh"
    stamp = credential["status"]["expirationTimestamp"]
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert 3500 < parsed.timestamp() - datetime.now(timezone.utc).timestamp() <= 3600
    assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1
    assert entry.parse(["token", "p", "-f", "exec-credential"]) is not None  # the fast path


def test_v1beta1_when_kubectl_asks_for_it(
    profiles_file: Any, rotating: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles_file()
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", exec_info(EXEC_V1BETA1))
    assert json.loads(run("token", "p", "-f", "exec-credential").stdout)["apiVersion"] == (
        EXEC_V1BETA1
    )
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", exec_info(EXEC_V1))
    assert json.loads(run("token", "p", "-f", "exec-credential").stdout)["apiVersion"] == EXEC_V1


def test_no_expiration_when_the_expiry_is_unknown(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, {"access_token": "opaque"}))
    profiles_file()
    credential = json.loads(run("token", "p", "-f", "exec-credential").stdout)
    assert credential["status"] == {"token": "opaque"}


@pytest.mark.parametrize(
    ("info", "fragment"),
    [
        ("{not json", "not a JSON document"),
        ('[' * 100_000, "not a JSON document"),
        (exec_info("client.authentication.k8s.io/v1alpha1"), "v1alpha1"),
        ('{"kind": "ExecCredential"}', "apiVersion none"),
        ('"a string"', "apiVersion none"),
    ],
)  # fmt: skip
def test_a_request_oauthcli_cannot_answer_fails_before_any_token_request(
    profiles_file: Any, rotating: Any, monkeypatch: pytest.MonkeyPatch, info: str, fragment: str
) -> None:
    profiles_file()
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", info)
    assert_clean_failure(run("token", "p", "-f", "exec-credential"), 3, fragment)
    assert rotating.counter == 0


def test_one_profile_only(profiles_file: Any, rotating: Any) -> None:
    profiles_file({"p": {}, "q": {}})
    assert_clean_failure(run("refresh", "p", "q", "-f", "exec-credential"), 2, "exactly one")
    assert rotating.counter == 0


# --- the real kubectl ----------------------------------------------------------------------------


def kubeconfig(tmp_path: Path, kube_api: FakeKubeAPI, api_version: str) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", kube_api, command=SCRIPT,
                            args=["token", "p", "-f", "exec-credential"],
                            api_version=api_version, interactive_mode="Never")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("api_version", [EXEC_V1, EXEC_V1BETA1])
def test_kubectl_authenticates_with_the_token(
    profiles_file: Any, rotating: Any, kube_api: FakeKubeAPI, kubectl_bin: str, tmp_path: Path,
    api_version: str,
) -> None:  # fmt: skip
    profiles_file()
    kube_api.accepted = {"at-0001-abcdefgh"}
    done = run_kubectl(kubeconfig(tmp_path, kube_api, api_version), "get", "--raw", "/api",
                       home=tmp_path / "kube-home")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "APIVersions"
    assert {r.bearer for r in kube_api.hits("/api")} == {"at-0001-abcdefgh"}
    assert rotating.counter == 1  # every later plugin run was answered from the store


@pytest.mark.slow
def test_kubectl_reports_a_failing_plugin(
    profiles_file: Any, server: LoopbackServer, kube_api: FakeKubeAPI, kubectl_bin: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    server.reply("/token", Response(400, {"error": "invalid_grant"}))
    profiles_file()
    done = run_kubectl(kubeconfig(tmp_path, kube_api, EXEC_V1), "get", "--raw", "/api",
                       home=tmp_path / "kube-home")  # fmt: skip
    assert done.returncode != 0
    assert "invalid_grant" in done.stderr  # our one-line error reaches the person
    assert not kube_api.hits("/api")
