"""A real Redis server for tests: started per session (or per test), killed and restarted at will.

`RedisServer` runs Debian's `redis-server` on a free 127.0.0.1 port inside a temp dir, with a
password that needs URL-encoding, AOF persistence fsynced on every write (no RDB), and, when the
binary is built with TLS (Debian's is), a second TLS port on a certificate from a test CA.

Fixtures (use them with ``pytest_plugins = ["tests.redis_fixture"]`` in a test module, or list
the module in the root conftest's ``pytest_plugins``):

- ``redis_server``  session-scoped, shared: do not leave it stopped (``redis_db`` restarts it).
- ``redis_db``      function-scoped: the shared server, running, after FLUSHALL. Most tests want this.
- ``redis_private`` function-scoped: a server of the test's own, for kill / restart / stop tests.

Nothing here imports oauthcli. PYTEST_DONT_REWRITE (no test asserts here; imported by test
modules before pytest sees ``pytest_plugins``, so rewriting could only warn).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

REDIS_SERVER = shutil.which("redis-server")
INSTALL_HINT = "redis-server not found: apt-get install redis-server (Debian/Ubuntu)"

# Every character here is special somewhere in a redis:// URL (userinfo, path, query, fragment,
# percent-escape, form encoding's '+' and space). A store that builds or parses URLs by hand fails.
PASSWORD = "p@ss:w/rd#%?& +"
# An ACL user with the same password, for redis://user:password@ URLs.
USERNAME = "oauthcli"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _conf_quote(value: str) -> str:
    """A redis.conf double-quoted string (sdssplitargs rules)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# --- a test CA and certificates (also used by tests/k8s_fixture.py) -------------------------


@dataclass(frozen=True)
class TLSFiles:
    ca: Path  # CA certificate (PEM): what clients trust
    cert: Path  # server certificate for 127.0.0.1 (SAN IP), signed by the CA
    key: Path  # server private key (PKCS#8 PEM, unencrypted)
    client_cert: Path  # a client certificate signed by the same CA (mutual TLS)
    client_key: Path


def make_tls_files(directory: Path, name: str = "oauthcli test CA") -> TLSFiles:
    """Write a fresh CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject: str, key: Any, issuer: x509.Name | None, issuer_key: Any,
              ca: bool, usage: Any = None) -> x509.Certificate:  # fmt: skip
        subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject_name)
            .issuer_name(issuer or subject_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),  # fmt: skip
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
            ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            if usage == ExtendedKeyUsageOID.SERVER_AUTH:
                san = x509.SubjectAlternativeName([
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ])  # fmt: skip
                builder = builder.add_extension(san, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem_key(key: Any) -> bytes:
        return bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))  # fmt: skip

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build(name, ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = build(
        "127.0.0.1", server_key, ca.subject, ca_key, False, ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = build("oauthcli test client", client_key, ca.subject, ca_key, False,
                   ExtendedKeyUsageOID.CLIENT_AUTH)  # fmt: skip

    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key",
                     directory / "client.pem", directory / "client.key")  # fmt: skip
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    for path, key in ((files.key, server_key), (files.client_key, client_key)):
        path.write_bytes(pem_key(key))
        path.chmod(0o600)
    return files


# --- the server --------------------------------------------------------------------------


class RedisServer:
    """One `redis-server` process in ``root``; ports stay the same across kill/restart."""

    def __init__(self, root: Path, password: str = PASSWORD, tls: bool = True,
                 binary: str | None = None) -> None:  # fmt: skip
        self.binary = binary or REDIS_SERVER
        if not self.binary:
            pytest.skip(INSTALL_HINT)
        self.root = root
        self.password = password
        self.username = USERNAME
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "redis.log"
        self.conf_path = root / "redis.conf"
        self.port = _free_port()
        self.tls_files: TLSFiles | None = make_tls_files(root / "tls") if tls else None
        self.tls_port: int | None = _free_port() if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        self._write_conf()

    # URLs --------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url_for(self, db: int = 0, *, tls: bool = False, user: bool = False,
                query: str = "") -> str:  # fmt: skip
        """``redis://:<pw>@127.0.0.1:PORT/db`` (or rediss:// on the TLS port, or with the ACL user)."""
        if tls and self.tls_port is None:
            raise RuntimeError("this RedisServer has no TLS port")
        scheme, port = ("rediss", self.tls_port) if tls else ("redis", self.port)
        userinfo = (
            (quote(self.username, safe="") if user else "") + ":" + quote(self.password, safe="")
        )
        return f"{scheme}://{userinfo}@{self.host}:{port}/{db}" + (f"?{query}" if query else "")

    @property
    def url(self) -> str:
        return self.url_for(0)

    @property
    def user_url(self) -> str:
        return self.url_for(0, user=True)

    @property
    def tls_url(self) -> str | None:
        """``rediss://…`` on the TLS port (verify against ``ca_path``), or None without TLS."""
        return self.url_for(0, tls=True) if self.tls_port is not None else None

    @property
    def ca_path(self) -> Path | None:
        return self.tls_files.ca if self.tls_files else None

    # lifecycle ---------------------------------------------------------------------------

    def _write_conf(self) -> None:
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",  # harmless: a password is set and only loopback is bound
            f"requirepass {_conf_quote(self.password)}",
            f"user {self.username} on {_conf_quote('>' + self.password)} ~* &* +@all",
            "appendonly yes",
            "appendfsync always",
            'appenddirname "appendonlydir"',
            'save ""',
            f"dir {_conf_quote(str(self.data_dir))}",
            f"logfile {_conf_quote(str(self.log_path))}",
            "daemonize no",
            "databases 16",
            "loglevel notice",
        ]
        if self.tls_files and self.tls_port is not None:
            lines += [
                f"tls-port {self.tls_port}",
                f"tls-cert-file {_conf_quote(str(self.tls_files.cert))}",
                f"tls-key-file {_conf_quote(str(self.tls_files.key))}",
                f"tls-ca-cert-file {_conf_quote(str(self.tls_files.ca))}",
                "tls-auth-clients optional",  # a client certificate is verified if sent, not required
            ]
        self.conf_path.write_text("\n".join(lines) + "\n")
        self.conf_path.chmod(0o600)  # it holds the password; argv does not

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.alive and self.process else None

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.alive:
            return self
        assert self.binary
        self.process = subprocess.Popen(
            [self.binary, str(self.conf_path)], cwd=self.root,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited ({self.process.returncode}):\n{self.log()}"
                )
            try:
                if self.client(socket_timeout=1).ping():
                    return self
            except Exception:  # noqa: BLE001 - loading AOF, not listening yet
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server not ready after {timeout}s:\n{self.log()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, like a crash or a machine going away; data fsynced to the AOF survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM); the process is gone when this returns."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, timeout: float = 10.0) -> RedisServer:
        """Start again on the same port(s) with the same data dir (the AOF is replayed)."""
        self.stop() if self.alive else None
        return self.start(timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # clients -----------------------------------------------------------------------------

    def client(self, db: int = 0, *, tls: bool = False, **kwargs: Any) -> Any:
        """A redis-py client (decode_responses=True unless overridden) for this server.

        No retries unless asked: redis-py 8's ``Redis(host=...)`` otherwise retries 10 times with
        backoff (about 4 s before a refused connection is reported); ``from_url`` retries 0 times.
        """
        import redis

        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("retry", None)
        kwargs.setdefault("socket_connect_timeout", 2)
        if tls:
            assert self.tls_files is not None and self.tls_port is not None
            return redis.Redis(host=self.host, port=self.tls_port, db=db, password=self.password,
                               ssl=True, ssl_ca_certs=str(self.tls_files.ca), **kwargs)  # fmt: skip
        return redis.Redis(host=self.host, port=self.port, db=db, password=self.password, **kwargs)

    def flushall(self) -> None:
        with self.client() as client:
            client.flushall()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def tls_supported(binary: str | None = REDIS_SERVER) -> bool:
    """Whether this redis-server was built with TLS (BUILD_TLS=yes links OpenSSL; Debian's does)."""
    if not binary:
        return False
    try:
        return b"SSL_CTX_new" in Path(binary).read_bytes()
    except OSError:
        return False


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The shared server of the session (TLS port too when available)."""
    if not REDIS_SERVER:
        pytest.skip(INSTALL_HINT)
    server = RedisServer(tmp_path_factory.mktemp("redis"), tls=_TLS).start()
    yield server
    server.kill()


@pytest.fixture
def redis_db(redis_server: RedisServer) -> RedisServer:
    """The shared server, running (restarted if an earlier test left it down), emptied."""
    if not redis_server.alive:
        redis_server.start()
    redis_server.flushall()
    return redis_server


@pytest.fixture
def redis_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this test's own, safe to kill, stop and restart."""
    if not REDIS_SERVER:
        pytest.skip(INSTALL_HINT)
    server = RedisServer(tmp_path_factory.mktemp("redis-private"), tls=_TLS).start()
    yield server
    server.kill()


_TLS = bool(os.environ.get("OAUTHCLI_TEST_REDIS_TLS", "1") != "0") and tls_supported()
