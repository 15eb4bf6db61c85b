"""TLS against a real loopback HTTPS server with a certificate from a test CA."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import assert_clean_failure, run
from tests.server import LoopbackServer, Response


def _cert(
    subject: str, key: Any, issuer_key: Any, issuer: x509.Name | None, ca: bool
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA and a server certificate for 127.0.0.1 signed by it."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("oauthcli test CA", ca_key, ca_key, None, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("127.0.0.1", key, ca_key, ca.subject, ca=False)
    paths = {"ca": root / "ca.pem", "cert": root / "server.pem", "key": root / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def https_server(pki: dict[str, Path]) -> Iterator[LoopbackServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server = LoopbackServer(tls=context).start()
    server.reply("/token", Response(200, {"access_token": "tls-token", "expires_in": 60}))
    yield server
    server.stop()


def test_unknown_ca_is_a_tls_failure(profiles_file: Any, https_server: LoopbackServer) -> None:
    profiles_file({"p": {"token_url": https_server.url("/token"), "retries": 2}})
    result = run("refresh", "p")
    assert_clean_failure(
        result, 5, "TLS handshake with 127.0.0.1 failed", "certificate verify failed"
    )
    assert "verify: /path/to/ca.pem" in result.stderr


def test_verify_names_the_ca(
    profiles_file: Any, https_server: LoopbackServer, pki: dict[str, Path]
) -> None:
    profiles_file({"p": {"token_url": https_server.url("/token"), "verify": str(pki["ca"])}})
    result = run("refresh", "p")
    assert (result.code, result.stdout, result.stderr) == (0, "tls-token\n", "")


def test_verify_false_works_and_warns(profiles_file: Any, https_server: LoopbackServer) -> None:
    profiles_file({"p": {"token_url": https_server.url("/token"), "verify": False}})
    result = run("refresh", "p")
    assert (result.code, result.stdout) == (0, "tls-token\n")
    assert "warning: profile 'p': verify: false" in result.stderr
