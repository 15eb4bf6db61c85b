"""The test infrastructure itself, proven without oauthcli: a real Redis, a fake Kubernetes API
driven by the real kubectl through an exec credential plugin."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest
import redis
import requests

from tests.k8s_fixture import (
    EXEC_V1,
    EXEC_V1BETA1,
    FakeKubeAPI,
    run_kubectl,
    write_exec_plugin,
    write_kubeconfig,
)
from tests.redis_fixture import PASSWORD, REDIS_SERVER, RedisServer, tls_supported

pytest_plugins = ["tests.redis_fixture", "tests.k8s_fixture"]

CREDENTIAL_EXPIRY = "2030-01-01T00:00:00Z"


# --- Redis -------------------------------------------------------------------------------


def test_password_needs_url_encoding_and_the_url_carries_it(redis_db: RedisServer) -> None:
    assert redis_db.password == PASSWORD
    for char in "@:/#%?& +":
        assert char in PASSWORD
    assert redis_db.url == (
        f"redis://:p%40ss%3Aw%2Frd%23%25%3F%26%20%2B@127.0.0.1:{redis_db.port}/0"
    )
    client = redis.Redis.from_url(redis_db.url, decode_responses=True)
    assert client.set("greeting", "hello")
    assert client.get("greeting") == "hello"
    assert redis_db.client().get("greeting") == "hello"  # the same server, not a lookalike
    # The ACL user of redis://user:password@ URLs works too.
    user_client = redis.Redis.from_url(redis_db.user_url, decode_responses=True)
    assert user_client.acl_whoami() == "oauthcli"
    assert user_client.get("greeting") == "hello"


def test_wrong_or_missing_password_is_refused(redis_db: RedisServer) -> None:
    port = redis_db.port
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="wrong", retry=None).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, retry=None).get("x")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(f"redis://:wrong@127.0.0.1:{port}/0").ping()
    # Unencoded, the password's '@', '/' and '#' break the URL: host "ss", port "w".
    with pytest.raises(ValueError, match="Port could not be cast"):
        redis.Redis.from_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/0").ping()


@pytest.mark.parametrize("round", [1, 2])
def test_redis_db_starts_empty(redis_db: RedisServer, round: int) -> None:
    client = redis_db.client()
    for db in (0, 5):
        assert redis_db.client(db).dbsize() == 0
        redis_db.client(db).set(f"left-over-{round}", "x")
    assert client.dbsize() == 1


def test_server_config_is_as_promised(redis_db: RedisServer) -> None:
    config = redis_db.client().config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert config["save"] == ""
    assert config["bind"] == "127.0.0.1"
    assert config["requirepass"] == PASSWORD
    assert PASSWORD not in " ".join(Path(f"/proc/{redis_db.pid}/cmdline").read_text().split("\0"))


def test_kill_refuses_connections_and_restart_brings_the_aof_data_back(
    redis_private: RedisServer,
) -> None:
    server = redis_private
    client = redis.Redis.from_url(server.url, decode_responses=True)
    client.set("state", "generation-7")
    client.hset("profile", mapping={"gen": "7", "rt": "rt-rotated-0007"})
    redis.Redis.from_url(server.url_for(3), decode_responses=True).set("other-db", "kept")
    port, old_pid = server.port, server.pid

    server.kill()
    assert not server.alive
    with pytest.raises(redis.ConnectionError, match="Connection refused"):
        client.get("state")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass

    server.restart()
    assert server.port == port and server.pid != old_pid
    assert client.get("state") == "generation-7"  # the same client reconnects to the same URL
    assert client.hgetall("profile") == {"gen": "7", "rt": "rt-rotated-0007"}
    assert server.client(3).get("other-db") == "kept"
    assert (server.data_dir / "appendonlydir").is_dir()
    assert not (server.data_dir / "dump.rdb").exists()  # the data came from the AOF


def test_clean_stop_and_restart_keep_data(redis_private: RedisServer) -> None:
    redis_private.client().set("k", "v")
    redis_private.stop()
    assert not redis_private.alive
    redis_private.restart()
    assert redis_private.client().get("k") == "v"
    assert not (redis_private.data_dir / "dump.rdb").exists()


def test_shared_server_left_down_is_back_for_the_next_user(redis_server: RedisServer) -> None:
    redis_server.kill()
    assert not redis_server.alive
    # What the redis_db fixture does for every test that uses it:
    redis_server.start().flushall()
    assert redis_server.client().ping()


# Without redis-server at all, the fixtures skip with the apt-get hint instead.
needs_tls = pytest.mark.skipif(
    REDIS_SERVER is not None and not tls_supported(), reason="redis-server built without TLS"
)


@needs_tls
def test_tls_url_with_the_test_ca(redis_db: RedisServer) -> None:
    assert redis_db.tls_url is not None and redis_db.ca_path is not None
    assert redis_db.tls_url.startswith("rediss://:p%40ss")
    assert redis_db.tls_port != redis_db.port
    plain = redis_db.client()
    plain.set("over", "plaintext")
    tls_client = redis.Redis.from_url(redis_db.tls_url, ssl_ca_certs=str(redis_db.ca_path),
                                      decode_responses=True)  # fmt: skip
    assert tls_client.get("over") == "plaintext"  # one server, two ports
    assert redis_db.client(tls=True).get("over") == "plaintext"
    # Mutual TLS is optional: a client certificate from the same CA is accepted.
    assert redis_db.tls_files is not None
    mtls = redis.Redis.from_url(redis_db.tls_url, ssl_ca_certs=str(redis_db.ca_path),
                                ssl_certfile=str(redis_db.tls_files.client_cert),
                                ssl_keyfile=str(redis_db.tls_files.client_key))  # fmt: skip
    assert mtls.ping()


@needs_tls
def test_tls_without_the_ca_fails_verification(redis_db: RedisServer) -> None:
    assert redis_db.tls_url is not None
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(redis_db.tls_url).ping()  # system CAs only


@needs_tls
def test_tls_port_survives_kill_and_restart(redis_private: RedisServer) -> None:
    assert redis_private.tls_url is not None
    ca = str(redis_private.ca_path)
    redis.Redis.from_url(redis_private.tls_url, ssl_ca_certs=ca).set("k", "v")
    redis_private.kill()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_private.tls_url, ssl_ca_certs=ca).get("k")
    redis_private.restart()
    assert redis.Redis.from_url(redis_private.tls_url, ssl_ca_certs=ca).get("k") == b"v"


# --- the fake Kubernetes API, without kubectl --------------------------------------------


def test_fake_api_answers_only_accepted_bearer_tokens(kube_api: FakeKubeAPI) -> None:
    ca = str(kube_api.ca_path)
    anonymous = requests.get(kube_api.url + "/api", verify=ca, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": "Unauthorized",
                                "reason": "Unauthorized", "code": 401}  # fmt: skip
    wrong = requests.get(kube_api.url + "/api", verify=ca, timeout=5,
                         headers={"Authorization": "Bearer nope"})  # fmt: skip
    assert wrong.status_code == 401
    good = {"Authorization": "Bearer T"}
    api = requests.get(kube_api.url + "/api", verify=ca, timeout=5, headers=good).json()
    assert api == {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{kube_api.port}"}]}  # fmt: skip
    apis = requests.get(kube_api.url + "/apis", verify=ca, timeout=5, headers=good).json()
    assert apis == {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
    version = requests.get(kube_api.url + "/version", verify=ca, timeout=5, headers=good).json()
    assert version["gitVersion"].startswith("v1.")
    missing = requests.get(kube_api.url + "/api/v1/pods", verify=ca, timeout=5, headers=good)
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
    assert kube_api.authorizations == [None, "Bearer nope", *["Bearer T"] * 4]

    kube_api.accepted = None  # accept any bearer token, still record it
    assert requests.get(kube_api.url + "/api", verify=ca, timeout=5,
                        headers={"Authorization": "Bearer anything"}).status_code == 200  # fmt: skip
    assert requests.get(kube_api.url + "/api", verify=ca, timeout=5).status_code == 401
    assert kube_api.requests[-2].bearer == "anything"


def test_fake_api_certificate_is_for_127_0_0_1_from_its_own_ca(kube_api: FakeKubeAPI) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(kube_api.url + "/api", timeout=5)  # system CAs only
    context = ssl.create_default_context(cafile=str(kube_api.ca_path))
    with socket.create_connection(("127.0.0.1", kube_api.port), 5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # fmt: skip
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_kubeconfig_shape(kube_api: FakeKubeAPI, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kubeconfig", kube_api, command="/bin/plugin",
                            args=["token", "corp"], env={"A": "1"})  # fmt: skip
    config = json.loads(path.read_text())
    assert config["clusters"][0]["cluster"] == {
        "server": kube_api.url,
        "certificate-authority": str(kube_api.ca_path),
    }
    assert config["users"][0]["user"]["exec"] == {
        "apiVersion": EXEC_V1, "command": "/bin/plugin", "args": ["token", "corp"],
        "env": [{"name": "A", "value": "1"}], "provideClusterInfo": False,
        "interactiveMode": "Never",
    }  # fmt: skip
    assert path.stat().st_mode & 0o077 == 0


# --- the real kubectl ----------------------------------------------------------------------


def _kube_setup(kube_api: FakeKubeAPI, tmp_path: Path, token: str, api_version: str,
                answer_version: str | None = None, **kubeconfig: object) -> tuple[Path, Path]:  # fmt: skip
    record = tmp_path / "exec-info.log"
    plugin = write_exec_plugin(tmp_path / "bin" / "plugin.sh", token,
                               api_version=answer_version or api_version,
                               expiration=CREDENTIAL_EXPIRY, record=record)  # fmt: skip
    path = write_kubeconfig(
        tmp_path / "kube" / "config",
        kube_api,
        command=str(plugin),
        api_version=api_version,
        **kubeconfig,
    )  # type: ignore[arg-type]
    return path, record


def _exec_infos(record: Path) -> list[object]:
    # kubectl's $KUBERNETES_EXEC_INFO ends with a newline (Go's json.Encoder): one JSON per line.
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("api_version", [EXEC_V1, EXEC_V1BETA1])
def test_kubectl_uses_the_exec_plugin_token(
    kube_api: FakeKubeAPI, kubectl_bin: str, tmp_path: Path, api_version: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "not-this-one"))  # run_kubectl overrides it
    kubeconfig, record = _kube_setup(kube_api, tmp_path, "T", api_version)
    done = run_kubectl(kubeconfig, "get", "--raw", "/api", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "APIVersions"
    assert [r.authorization for r in kube_api.hits("/api")] == ["Bearer T"]
    # The gcloud kubectl dispatcher first asks /version (same token) to pick a kubectl version.
    assert set(kube_api.authorizations) == {"Bearer T"}
    infos = _exec_infos(record)
    assert infos and all(
        info
        == {"kind": "ExecCredential", "apiVersion": api_version, "spec": {"interactive": False}}
        for info in infos
    ), infos
    assert (tmp_path / "home" / ".kube" / "cache").is_dir()  # kubectl's cache: in the temp HOME


def test_kubectl_with_a_wrong_token_fails(
    kube_api: FakeKubeAPI, kubectl_bin: str, tmp_path: Path
) -> None:
    kubeconfig, record = _kube_setup(kube_api, tmp_path, "WRONG", EXEC_V1)
    done = run_kubectl(kubeconfig, "get", "--raw", "/api", home=tmp_path / "home")
    assert done.returncode != 0
    assert "Unauthorized" in done.stderr
    assert kube_api.hits("/api") and set(kube_api.authorizations) == {"Bearer WRONG"}
    # client-go runs the plugin again after a 401 (to refresh), without retrying the request.
    assert len(_exec_infos(record)) >= 2


def test_kubectl_refuses_a_credential_in_another_api_version(
    kube_api: FakeKubeAPI, kubectl_bin: str, tmp_path: Path
) -> None:
    kubeconfig, _ = _kube_setup(kube_api, tmp_path, "T", EXEC_V1, answer_version=EXEC_V1BETA1)
    done = run_kubectl(kubeconfig, "get", "--raw", "/api", home=tmp_path / "home")
    assert done.returncode != 0
    assert EXEC_V1BETA1 in done.stderr and EXEC_V1 in done.stderr
    assert kube_api.hits("/api") == []


def test_kubectl_requires_interactive_mode_for_v1(
    kube_api: FakeKubeAPI, kubectl_bin: str, tmp_path: Path
) -> None:
    kubeconfig, record = _kube_setup(kube_api, tmp_path, "T", EXEC_V1, interactive_mode=None)
    done = run_kubectl(kubeconfig, "get", "--raw", "/api", home=tmp_path / "home")
    assert done.returncode != 0
    assert "interactiveMode must be specified" in done.stderr
    assert kube_api.hits("/api") == [] and not record.exists()
