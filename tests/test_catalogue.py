"""The provider catalogue (oauthcli/catalogue.yaml) and the example file generated from it.

- profiles.example.yaml is exactly what tools/gen_example.py generates (and --check says so);
- no catalogue profile holds a literal secret: every secret-bearing value is a ${...} reference;
- every entry names the documentation it was checked against, and has notes;
- every profile uses only keys of SPEC §2, §9, §11 and §12 (a typo in the catalogue fails here,
  before `oauthcli check` learns the new keys).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from oauthcli.config.schema import LOGIN_KEYS  # one source for the login keys

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE_PATH = ROOT / "oauthcli" / "catalogue.yaml"
EXAMPLE_PATH = ROOT / "profiles.example.yaml"
GENERATOR = ROOT / "tools" / "gen_example.py"


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_example", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
CATALOGUE: dict[str, Any] = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
PROVIDERS: dict[str, dict[str, Any]] = CATALOGUE["providers"]

# The 21 profiles profiles.example.yaml had before the catalogue: kept, with the same names.
ORIGINAL_PROFILES = [
    "google", "google-work", "entra", "salesforce", "zoho-us", "zoho-eu", "dropbox", "spotify",
    "hubspot", "xero", "okta", "okta-org", "auth0", "github-app", "quickbooks", "slack", "box",
    "keycloak", "m2m", "legacy-password", "internal-sts",
]  # fmt: skip

REFERENCE_ONLY = re.compile(r"(?:\$\{[^{}]+\})+")
ENV_REF = re.compile(r"\$\{(?:env:)?([^{}:]*)(?::-[^{}]*)?\}")

PROFILE_KEYS = {
    # SPEC §2
    "description", "token_url", "method", "headers", "params", "body", "body_format",
    "refresh_token", "auth", "response", "export", "min_valid", "validate", "revocation_url",
    "issuer", "timeout", "retries", "verify", "cert", "proxy", "insecure", "extends",
    "assume_ttl", "lock_timeout",
    # SPEC §9, §11, §12
    "scope", "refresh_scope", "login", "grant", "git",
}  # fmt: skip
AUTH_KEYS = {
    "basic": ({"client_id", "client_secret"}, set()),
    "post": ({"client_id", "client_secret"}, set()),
    "none": ({"client_id"}, set()),
    "private_key_jwt": ({"client_id", "key"}, {"alg", "kid", "audience"}),
    "client_assertion": ({"client_id", "assertion"}, set()),
}
GRANT_KEYS = {
    "client_credentials": (set(), {"scope"}),
    "jwt_bearer": ({"key", "iss"}, {"sub", "aud", "scope", "claims"}),
    "google_service_account": ({"key_file", "scope"}, {"subject"}),
    "token_exchange": (
        {"subject_token", "subject_token_type"},
        {"audience", "resource", "requested_token_type", "scope"},
    ),
}
VALIDATE_KEYS = {"introspection_url", "jwks_url", "issuer", "audience", "leeway", "probe"}
# values that are secrets wherever they appear (SPEC §7, §12)
SECRET_FIELDS = {
    "client_secret", "refresh_token", "access_token", "id_token", "password", "key",
    "assertion", "subject_token", "actor_token", "refreshtoken", "authorization", "cookie",
    "x-api-key",
}  # fmt: skip


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (dotted path, leaf) in a profile, string bodies split into their form fields."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _walk(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _walk(v, f"{path}[{i}]")]
    if path == "body" and isinstance(value, str):
        fields = [part.partition("=") for part in value.split("&")]
        return [(f"body.{name}", v) for name, _, v in fields]
    return [(path, value)]


@pytest.mark.parametrize("name", ORIGINAL_PROFILES)
def test_every_original_profile_is_still_in_the_catalogue(name: str) -> None:
    assert name in PROVIDERS


def test_example_file_is_the_generated_one() -> None:
    assert EXAMPLE_PATH.read_text(encoding="utf-8") == gen.render(gen.load_catalogue())
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_check_fails_on_a_stale_file_and_generation_is_deterministic(tmp_path: Path) -> None:
    first = gen.render(gen.load_catalogue())
    assert gen.render(gen.load_catalogue()) == first
    stale = tmp_path / "profiles.example.yaml"
    stale.write_text(first.replace("google:", "gooogle:", 1), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "out of date" in done.stderr


def test_example_profiles_equal_catalogue_profiles() -> None:
    example = yaml.safe_load(EXAMPLE_PATH.read_text(encoding="utf-8"))
    assert list(example["profiles"]) == list(PROVIDERS)
    assert example["profiles"] == {name: entry["profile"] for name, entry in PROVIDERS.items()}
    assert example["defaults"] == CATALOGUE["defaults"]


def test_example_comments_carry_notes_and_docs() -> None:
    text = EXAMPLE_PATH.read_text(encoding="utf-8")
    assert text.startswith("# oauthcli example profiles")
    for entry in PROVIDERS.values():
        for url in entry["docs"]:
            assert f"#   {url}\n" in text


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_entry_has_description_docs_and_notes(name: str) -> None:
    entry = PROVIDERS[name]
    assert set(entry) == {"description", "docs", "notes", "profile"}
    assert isinstance(entry["description"], str) and entry["description"].strip()
    assert isinstance(entry["docs"], list) and entry["docs"], f"{name}: no docs"
    for url in entry["docs"]:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc, f"{name}: not a doc URL: {url!r}"
    assert isinstance(entry["notes"], list) and entry["notes"], f"{name}: no notes"
    assert all(isinstance(note, str) and note.strip() for note in entry["notes"])


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_profile_has_no_literal_secret(name: str) -> None:
    for path, value in _walk(PROVIDERS[name]["profile"]):
        if path.startswith(("response.", "export.")):
            continue  # names of response fields, not values
        field = path.rsplit(".", 1)[-1].lower()
        if field in SECRET_FIELDS:
            assert isinstance(value, str) and REFERENCE_ONLY.fullmatch(value), (
                f"{name}: {path} must be a ${{...}} reference, not a literal"
            )
    for env_name in ENV_REF.findall(_dump(PROVIDERS[name]["profile"])):
        if env_name and env_name != "refresh_token":
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", env_name), f"{name}: env name {env_name!r}"


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_profile_uses_known_keys_and_values(name: str) -> None:
    profile = PROVIDERS[name]["profile"]
    assert set(profile) <= PROFILE_KEYS, f"{name}: unknown keys {set(profile) - PROFILE_KEYS}"
    if "extends" in profile:
        assert profile["extends"] in PROVIDERS and profile["extends"] != name
        return  # the rest is inherited
    grant = profile.get("grant")
    assert (
        profile.get("token_url")
        or profile.get("issuer")
        or (grant and grant["type"] == "google_service_account")
    ), f"{name}: no token_url, issuer or self-locating grant"
    if "auth" in profile:
        auth = profile["auth"]
        required, optional = AUTH_KEYS[auth["type"]]
        assert required <= set(auth) - {"type"} <= required | optional, f"{name}: auth keys"
    if grant:
        required, optional = GRANT_KEYS[grant["type"]]
        assert required <= set(grant) - {"type"} <= required | optional, f"{name}: grant keys"
        assert "login" not in profile and "refresh_token" not in profile
    if "login" in profile:
        login = profile["login"]
        assert set(login) <= LOGIN_KEYS, f"{name}: login keys {set(login) - LOGIN_KEYS}"
        assert login.get("flow", "browser") in ("browser", "device")
        if login.get("flow") == "device":
            assert login.get("device_authorization_url") or profile.get("issuer")
        else:
            assert login.get("authorization_url") or profile.get("issuer")
        assert all(isinstance(v, str) for v in (login.get("params") or {}).values())
    if "git" in profile:
        assert set(profile["git"]) == {"username"} and profile["git"]["username"].strip()
    if "refresh_scope" in profile:
        assert isinstance(profile["refresh_scope"], bool) and "scope" in profile
    if "validate" in profile:
        assert set(profile["validate"]) <= VALIDATE_KEYS
    if "body" not in profile and not grant:
        # a standard refresh: the first refresh token comes from `login` or the profile
        assert "login" in profile or "refresh_token" in profile, f"{name}: no refresh token source"


@pytest.mark.parametrize(
    "name",
    sorted(n for n, e in PROVIDERS.items() if "redirect_uri" in e["profile"].get("login", {})),
)
def test_redirect_uris_are_loopback_with_a_port_and_path(name: str) -> None:
    uri = PROVIDERS[name]["profile"]["login"]["redirect_uri"]
    parts = urlsplit(uri)
    assert parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    assert parts.port is not None and parts.path.startswith("/") and len(parts.path) > 1


def test_standard_profiles_carry_no_needless_body() -> None:
    """An explicit body only where the request is not the RFC 6749 §6 one."""
    with_body = sorted(n for n, e in PROVIDERS.items() if "body" in e["profile"])
    assert with_body == ["internal-sts", "legacy-password"]


def test_google_keeps_its_secret_reference() -> None:
    """tests/test_cli.py expects `check` to warn that GOOGLE_CLIENT_SECRET is unset."""
    google = PROVIDERS["google"]["profile"]
    assert "${env:GOOGLE_CLIENT_SECRET}" in _dump(google)
    assert google["login"]["params"] == {"access_type": "offline", "prompt": "consent"}


def test_catalogue_ships_inside_the_package() -> None:
    assert CATALOGUE_PATH.parent == ROOT / "oauthcli"
    assert (ROOT / "oauthcli" / "__init__.py").exists()
