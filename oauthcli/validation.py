"""`validate`: is this token good? Each check passes, fails, is skipped (with the reason) or
could not be performed (an error, e.g. the network failed).

Core only: nothing here prints; ``validate`` returns a Report that commands/validate.py renders.
JWT libraries load only when a signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from oauthcli import discovery, http
from oauthcli.errors import InvalidTokenError, OAuthCliError, TransientError
from oauthcli.flow import Runtime, obtain
from oauthcli.profiles import HTTP_METHODS, Profile, schema_error
from oauthcli.redact import SECRETS, mask
from oauthcli.token import Token, iso8601

PASS, FAIL, SKIPPED, ERROR = "pass", "fail", "skipped", "error"
DEFAULT_LEEWAY = 30.0
# Which JWS algorithms each JWK key type may verify; symmetric (HS*) keys never come from a JWKS.
KEY_ALGS = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA",),
}
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z: later NumericDates cannot be shown or compared


@dataclass(frozen=True)
class Check:
    name: str
    result: str  # pass, fail, skipped, error
    detail: str
    hint: str | None = None
    error: OAuthCliError | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Report:
    profile: str
    checks: tuple[Check, ...]

    @property
    def valid(self) -> bool:
        return all(c.result in (PASS, SKIPPED) for c in self.checks)

    @property
    def verdict(self) -> str:
        if self.valid:
            return "valid"
        failed = any(c.result == FAIL for c in self.checks)
        return "NOT valid" if failed else "could not be validated"

    def problem(self) -> OAuthCliError | None:
        """What the run exits with: a failed check (1) wins over one that could not run."""
        failed = next((c for c in self.checks if c.result == FAIL), None)
        if failed:
            message = f"profile {self.profile!r}: token not valid: {failed.name}: {failed.detail}"
            return InvalidTokenError(message, failed.hint)
        broken = next((c for c in self.checks if c.error is not None), None)
        if broken is None or broken.error is None:
            return None
        error = OAuthCliError(
            f"profile {self.profile!r}: {broken.name} could not be checked: {broken.detail}",
            broken.error.hint,
        )
        error.exit_code = broken.error.exit_code
        return error

    def to_dict(self) -> dict[str, Any]:
        checks = [
            {"name": c.name, "result": c.result, "detail": SECRETS.redact_text(c.detail)}
            for c in self.checks
        ]
        return {"profile": self.profile, "valid": self.valid, "checks": checks}


@dataclass(frozen=True)
class Subject:
    """The token under test, where it came from, and the stored token (with its expiry)."""

    access_token: str | None
    source: str  # stored, --token, stdin
    stored: Token | None = None


def stored_subject(
    rt: Runtime, profile: Profile, *, refresh: bool = False, min_valid: float | None = None
) -> Subject:
    """The stored token; only with ``refresh`` is a stale or missing one refreshed first."""
    if refresh:
        token = obtain(rt, profile, min_valid=min_valid, force=False)
        return Subject(token.access_token, "stored", token)
    state = rt.store.read(profile.name)
    if state is None:
        return Subject(None, "stored")
    SECRETS.add(state.token.access_token)
    return Subject(state.token.access_token, "stored", state.token)


def given_subject(value: str, source: str) -> Subject:
    token = value.strip()
    SECRETS.add(token)
    return Subject(token or None, source)


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    url: str
    method: str = "GET"
    expect_status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    introspection_url: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None  # the expected iss
    audience: tuple[str, ...] = ()
    leeway: float = DEFAULT_LEEWAY
    probe: Probe | None = None


def settings(rt: Runtime, profile: Profile) -> Settings:
    """The `validate` mapping, references resolved: a ConfigError before anything is sent."""
    raw = dict(profile.validate or {})
    resolve = rt.resolver(profile).resolve
    source = rt.config.source

    def url(key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise schema_error(source, profile.name, f"validate.{key}", "string", value)
        resolved = resolve(value, f"validate.{key}")
        http.check_url(resolved, profile, f"validate.{key}")
        return resolved

    issuer = raw.get("issuer", profile.issuer)
    if issuer is not None and not isinstance(issuer, str):
        raise schema_error(source, profile.name, "validate.issuer", "string", issuer)
    leeway = raw.get("leeway", DEFAULT_LEEWAY)
    if isinstance(leeway, bool) or not isinstance(leeway, (int, float)) or leeway < 0:
        raise schema_error(source, profile.name, "validate.leeway", "number of seconds", leeway)
    return Settings(
        introspection_url=url("introspection_url"),
        jwks_url=url("jwks_url"),
        issuer=resolve(issuer, "validate.issuer") if issuer else None,
        audience=_audience(raw.get("audience"), resolve, source, profile.name),
        leeway=float(leeway),
        probe=_probe(raw.get("probe"), resolve, profile, source),
    )


Resolve = Callable[[str, str], str]


def _audience(value: Any, resolve: Resolve, source: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise schema_error(source, name, "validate.audience", "string or list of strings", value)
    return tuple(resolve(v, "validate.audience") for v in values)


def _probe(value: Any, resolve: Resolve, profile: Profile, source: str) -> Probe | None:
    if value is None:
        return None
    method = str(value.get("method", "GET")).upper()
    if method not in HTTP_METHODS:
        raise schema_error(source, profile.name, "validate.probe.method", "HTTP method", method)
    status = value.get("expect_status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise schema_error(source, profile.name, "validate.probe.expect_status", "HTTP status",
                           status)  # fmt: skip
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise schema_error(source, profile.name, "validate.probe.headers", "mapping", headers)
    url = resolve(value["url"], "validate.probe.url")
    http.check_url(url, profile, "validate.probe.url")
    resolved = {str(k): resolve(str(v), f"validate.probe.headers.{k}") for k, v in headers.items()}
    return Probe(url, method, status, resolved)


# --- running the checks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Jwt:
    header: dict[str, Any]
    claims: dict[str, Any] | None  # None: encrypted, or the payload is not a JSON object
    encrypted: bool = False


def parse_jwt(token: str) -> Jwt | None:
    """The JWT's header and unverified claims; None for an opaque token."""
    parts = token.split(".")
    if len(parts) not in (3, 5):
        return None
    header = _segment(parts[0])
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    if len(parts) == 5:
        return Jwt(header, None, encrypted=True)
    claims = _segment(parts[1])
    return Jwt(header, claims if isinstance(claims, dict) else None)


def _segment(part: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None


@dataclass
class _Run:
    rt: Runtime
    profile: Profile
    settings: Settings
    subject: Subject
    token: str
    jwt: Jwt | None
    now: float
    min_valid: float
    metadata: dict[str, Any] | OAuthCliError | None = None

    def endpoint(self, explicit: str | None, key: str) -> str | None:
        """An explicit URL wins; else the issuer's metadata (discovered once per run)."""
        if explicit or not self.profile.issuer:
            return explicit
        if self.metadata is None:
            try:
                self.metadata = discovery.discover(self.rt, self.profile)
            except OAuthCliError as exc:
                self.metadata = exc
        if isinstance(self.metadata, OAuthCliError):
            raise self.metadata
        value = self.metadata.get(key)
        return value if isinstance(value, str) and value else None


def _unconfigured(run: _Run, setting: str, key: str) -> str:
    if run.profile.issuer:
        return f"not configured: no validate.{setting}, and the issuer's metadata has no {key}"
    return f"not configured (validate.{setting})"


def validate(
    rt: Runtime, profile: Profile, subject: Subject, min_valid: float | None = None
) -> Report:
    """Run every check on ``subject``; never refreshes (see ``stored_subject``)."""
    conf = settings(rt, profile)
    if subject.access_token is None:
        return Report(profile.name, (_absent(profile, subject), *_skip_rest("no token")))
    run = _Run(rt, profile, conf, subject, subject.access_token, parse_jwt(subject.access_token),
               rt.clock(), profile.min_valid if min_valid is None else min_valid)  # fmt: skip
    checks = [_present(run), *(_guarded(name, check, run) for name, check in RUNNERS)]
    return Report(profile.name, tuple(checks))


def _guarded(name: str, check: Callable[[_Run], Check], run: _Run) -> Check:
    try:
        return check(run)
    except OAuthCliError as exc:
        return Check(name, ERROR, exc.message, exc.hint, exc)


def _skip_rest(reason: str) -> list[Check]:
    return [Check(name, SKIPPED, reason) for name, _ in RUNNERS]


def _absent(profile: Profile, subject: Subject) -> Check:
    if subject.source == "stored":
        detail = f"no stored token; run `oauthcli refresh {profile.name}` or pass --refresh"
        return Check("present", FAIL, detail)
    return Check("present", FAIL, f"the token given with {subject.source} is empty")


def _present(run: _Run) -> Check:
    shown = mask(run.token)
    stored = run.subject.stored
    if stored is not None:
        obtained = iso8601(stored.obtained_at)
        return Check("present", PASS, f"stored token {shown}, obtained {obtained}")
    return Check("present", PASS, f"token {shown} from {run.subject.source}")


def _expiry(run: _Run) -> Check:
    stored = run.subject.stored
    if stored is not None:
        expiry = stored.effective_expiry(run.profile.assume_ttl)
        note = "" if stored.expires_at is not None else " (assumed: the endpoint gave no expiry)"
    else:
        exp = _claim_number(run, "exp")
        if exp is None:
            detail = f"no stored expiry for a token from {run.subject.source}"
            return Check("expiry", SKIPPED, detail)
        expiry, note = exp, " (JWT exp)"
    left = expiry - run.now
    when = f"{iso8601(expiry)}{note}"
    if left <= 0:
        return Check("expiry", FAIL, f"expired at {when}, {int(-left)} s ago", _refresh_hint(run))
    if left <= run.min_valid:
        detail = f"expires at {when}, in {int(left)} s: less than min_valid {run.min_valid:g} s"
        return Check("expiry", FAIL, detail, _refresh_hint(run))
    return Check("expiry", PASS, f"expires at {when}, in {int(left)} s")


def _refresh_hint(run: _Run) -> str | None:
    if run.subject.stored is None:
        return None
    return f"`oauthcli token {run.profile.name}` refreshes it; validate does only with --refresh"


def _claim_number(run: _Run, name: str) -> float | None:
    value = run.jwt.claims.get(name) if run.jwt and run.jwt.claims else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value <= MAX_TIME else None  # NaN and inf fail this too


# --- JWT claims -------------------------------------------------------------------------------


def _not_readable(run: _Run) -> str | None:
    """Why the JWT claims cannot be checked, or None when they can."""
    if run.jwt is None:
        return "not a JWT (opaque token)"
    if run.jwt.encrypted:
        return "encrypted JWT (JWE): claims not readable"
    if run.jwt.claims is None:
        return "the JWT payload is not readable"
    return None


def _structure(run: _Run) -> Check:
    if run.jwt is None:
        return Check("jwt", SKIPPED, "not a JWT (opaque token)")
    alg = run.jwt.header["alg"]
    if run.jwt.encrypted:
        return Check("jwt", SKIPPED, f"encrypted JWT (JWE, alg {alg}): claims not readable")
    if run.jwt.claims is None:
        return Check("jwt", FAIL, "malformed JWT: the payload is not a JSON object")
    if alg.lower() == "none":
        return Check("jwt", FAIL, "unsigned JWT (alg: none)")
    kid = run.jwt.header.get("kid")
    return Check("jwt", PASS, f"JWT, alg {alg}" + (f", kid {kid}" if kid is not None else ""))


def _time_claim(run: _Run, name: str) -> Check:
    reason = _not_readable(run)
    if reason:
        return Check(name, SKIPPED, reason)
    assert run.jwt is not None and run.jwt.claims is not None
    if name not in run.jwt.claims:
        return Check(name, SKIPPED, f"no {name} claim")
    value = _claim_number(run, name)
    if value is None:
        return Check(name, FAIL, f"{name} is not a valid NumericDate")
    leeway = run.settings.leeway
    if name == "exp" and run.now >= value + leeway:
        ago = int(run.now - value)
        return Check(name, FAIL, f"expired at {iso8601(value)}, {ago} s ago (leeway {leeway:g} s)")
    if name == "nbf" and run.now + leeway < value:
        ahead = int(value - run.now)
        detail = f"not valid before {iso8601(value)}, in {ahead} s (leeway {leeway:g} s)"
        return Check(name, FAIL, detail)
    verb = "expires at" if name == "exp" else "valid since"
    return Check(name, PASS, f"{verb} {iso8601(value)}")


def _iss(run: _Run) -> Check:
    reason = _not_readable(run)
    expected = run.settings.issuer
    if reason or expected is None:
        return Check("iss", SKIPPED, reason or "no issuer configured (validate.issuer or issuer)")
    assert run.jwt is not None and run.jwt.claims is not None
    actual = run.jwt.claims.get("iss")
    if actual == expected:
        return Check("iss", PASS, f"iss is {expected}")
    got = "no iss claim" if actual is None else f"iss is {actual!r}"
    return Check("iss", FAIL, f"{got}, expected {expected!r}")


def _aud(run: _Run) -> Check:
    reason = _not_readable(run)
    expected = run.settings.audience
    if reason or not expected:
        return Check("aud", SKIPPED, reason or "no audience configured (validate.audience)")
    assert run.jwt is not None and run.jwt.claims is not None
    actual = run.jwt.claims.get("aud")
    values = [actual] if isinstance(actual, str) else actual if isinstance(actual, list) else []
    matched = [a for a in expected if a in values]
    if matched:
        return Check("aud", PASS, f"aud includes {matched[0]!r}")
    wanted = repr(expected[0]) if len(expected) == 1 else f"one of {list(expected)!r}"
    got = "no aud claim" if actual is None else f"aud is {actual!r}"
    return Check("aud", FAIL, f"{got}, expected {wanted}")


# --- JWT signature ----------------------------------------------------------------------------


def _signature(run: _Run) -> Check:
    if run.jwt is None or run.jwt.encrypted:
        return Check("signature", SKIPPED, _not_readable(run) or "")
    alg = run.jwt.header["alg"]
    if alg.lower() == "none":
        return Check("signature", FAIL, "unsigned JWT (alg: none)")
    url = run.endpoint(run.settings.jwks_url, "jwks_uri")
    if url is None:
        return Check("signature", SKIPPED, _unconfigured(run, "jwks_url", "jwks_uri"))
    if alg.startswith("HS"):
        return Check("signature", FAIL, f"alg {alg} is symmetric: a JWK Set cannot verify it")
    keys = _signing_keys(run, url)
    if not keys:
        kid = run.jwt.header.get("kid")
        which = f"no key with kid {kid!r}" if kid is not None else "no signing key"
        return Check("signature", FAIL, f"{which} in the JWK Set at {url}")
    return _verify_any(run.token, alg, keys, url)


def _signing_keys(run: _Run, url: str) -> list[dict[str, Any]]:
    """The keys that may have signed the token; an unknown kid refetches a cached set once."""
    assert run.jwt is not None
    where = "validate.jwks_url" if run.settings.jwks_url else "jwks_uri (issuer metadata)"
    keyset, fetched = discovery.jwks(run.rt, run.profile, url, where=where)
    keys = _candidates(keyset, run.jwt.header)
    if not keys and run.jwt.header.get("kid") is not None and not fetched:
        keyset, fetched = discovery.jwks(run.rt, run.profile, url, refetch=True, where=where)
        keys = _candidates(keyset, run.jwt.header)
    return keys


def _candidates(keyset: Mapping[str, Any], header: Mapping[str, Any]) -> list[dict[str, Any]]:
    listed = keyset.get("keys")
    keys = [k for k in listed if isinstance(k, dict)] if isinstance(listed, list) else []
    keys = [k for k in keys if k.get("use", "sig") == "sig"]
    kid = header.get("kid")
    return keys if kid is None else [k for k in keys if k.get("kid") == kid]


def _verify_any(token: str, alg: str, keys: list[dict[str, Any]], url: str) -> Check:
    reasons: list[str] = []
    for jwk in keys:
        reason = _mismatch(alg, jwk) or _verify(token, alg, jwk)
        if reason is None:
            return Check("signature", PASS, f"verified with key {_label(jwk)} ({alg}) from {url}")
        reasons.append(reason)
    return Check("signature", FAIL, "; ".join(dict.fromkeys(reasons)))


def _label(jwk: Mapping[str, Any]) -> str:
    kid = jwk.get("kid")
    return repr(kid) if kid is not None else f"(no kid, kty {jwk.get('kty')})"


def _mismatch(alg: str, jwk: Mapping[str, Any]) -> str | None:
    """Why this key cannot verify ``alg`` (no algorithm confusion), or None."""
    kty = jwk.get("kty")
    if alg not in KEY_ALGS.get(str(kty), ()):
        return f"alg {alg} does not match key {_label(jwk)} of type {kty}"
    if kty == "EC" and jwk.get("crv") != EC_CURVES[alg]:
        return f"alg {alg} needs curve {EC_CURVES[alg]}; key {_label(jwk)} is {jwk.get('crv')}"
    if jwk.get("alg") not in (None, alg):
        return f"key {_label(jwk)} is for alg {jwk.get('alg')}, the token says {alg}"
    return None


def _verify(token: str, alg: str, jwk: Mapping[str, Any]) -> str | None:
    import jwt

    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return f"key {_label(jwk)} is unusable: {exc}"
    try:
        jwt.PyJWS().decode_complete(token, key=key, algorithms=[alg])
    except jwt.InvalidSignatureError:
        return f"the signature does not verify with key {_label(jwk)}"
    except jwt.PyJWTError as exc:
        return f"not verifiable with key {_label(jwk)}: {exc}"
    return None


# --- introspection and probe ------------------------------------------------------------------


def _introspection(run: _Run) -> Check:
    url = run.endpoint(run.settings.introspection_url, "introspection_endpoint")
    if url is None:
        detail = _unconfigured(run, "introspection_url", "introspection_endpoint")
        return Check("introspection", SKIPPED, detail)
    from oauthcli.revoke import client_auth

    if not run.settings.introspection_url:  # an explicit one was checked with the settings
        http.check_url(url, run.profile, "introspection_endpoint (issuer metadata)")
    headers, body = client_auth(run.profile, run.rt.resolver(run.profile))
    body.update({"token": run.token, "token_type_hint": "access_token"})
    request = http.TokenRequest("POST", url, headers, {}, urlencode(body).encode("ascii"))
    result = http.send(request, run.profile, run.rt.session, run.rt.sleep)
    host = urlsplit(url).hostname or url
    data = http.check_response(result, run.profile, host)
    if data.get("active") is not True:
        return Check("introspection", FAIL, f"{host} says the token is not active")
    facts = [f"{key} {data[key]}" for key in ("client_id", "scope") if data.get(key)]
    exp = data.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and 0 <= exp <= MAX_TIME:
        facts.append(f"expires at {iso8601(exp)}")
    return Check("introspection", PASS, f"active at {host}" + "".join(f"; {f}" for f in facts))


def _probe_check(run: _Run) -> Check:
    probe = run.settings.probe
    if probe is None:
        return Check("probe", SKIPPED, "not configured (validate.probe)")
    headers = {**probe.headers, "Authorization": f"Bearer {run.token}"}
    request = http.TokenRequest(probe.method, probe.url, headers)
    result = http.send(request, run.profile, run.rt.session, run.rt.sleep)
    parts = urlsplit(probe.url)
    where = f"{probe.method} {parts.hostname}{parts.path or '/'}"  # no query: it may hold secrets
    if result.status == probe.expect_status:
        return Check("probe", PASS, f"{where} answered HTTP {result.status}")
    if result.status == 429 or result.status >= 500:
        raise TransientError(f"{where} answered HTTP {result.status}", hint="try again later")
    detail = f"{where} answered HTTP {result.status}, expected {probe.expect_status}"
    challenge = result.headers.get("www-authenticate", "")[:200]
    return Check("probe", FAIL, detail + (f" ({challenge})" if challenge else ""))


# The checks after `present`, in report order (each guarded: an OAuthCliError becomes "error").
RUNNERS: tuple[tuple[str, Callable[[_Run], Check]], ...] = (
    ("expiry", _expiry),
    ("jwt", _structure),
    ("exp", lambda run: _time_claim(run, "exp")),
    ("nbf", lambda run: _time_claim(run, "nbf")),
    ("iss", _iss),
    ("aud", _aud),
    ("signature", _signature),
    ("introspection", _introspection),
    ("probe", _probe_check),
)
