"""`validate`: is this token good? Each check passes, fails, is skipped (with the reason) or
could not be performed (an error, e.g. the network failed).

Core only: nothing here prints; ``validate`` returns a Report that commands/validate.py renders.
This module reads the settings, gathers the token and runs the checks; the JWT checks themselves
are in ``jwt_checks`` (which loads the JWT library only when a signature is checked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from oauthcli.config.model import Profile
from oauthcli.errors import InvalidTokenError, OAuthCliError, TransientError
from oauthcli.grants.driver import obtain
from oauthcli.redact import Secrets, mask
from oauthcli.safetext import printable
from oauthcli.token import Token, iso8601
from oauthcli.validate import jwt as jwt_checks
from oauthcli.validate.jwt import ERROR, FAIL, PASS, SKIPPED, Check, Jwt
from oauthcli.validate.settings import Settings, settings
from oauthcli.validate.verification import VERIFICATION, verification
from oauthcli.wire import discovery, http
from oauthcli.wire.request import TokenRequest, check_url
from oauthcli.wire.response import check_response
from oauthcli.worldtype import World


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

    def to_dict(self, secrets: Secrets) -> dict[str, Any]:
        """Details quote servers and tokens (claims, kid, scope): shown escaped, as data."""
        checks = [
            {"name": c.name, "result": c.result, "detail": printable(secrets.redact_text(c.detail))}
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
    rt: World, profile: Profile, *, refresh: bool = False, min_valid: float | None = None
) -> Subject:
    """The stored token; only with ``refresh`` is a stale or missing one refreshed first."""
    if refresh:
        token = obtain(rt, profile, min_valid=min_valid, force=False)
        return Subject(token.access_token, "stored", token)
    from oauthcli.grants.identity import read_state

    state = read_state(rt, profile)
    if state is None:
        return Subject(None, "stored")
    rt.secrets.add(state.token.access_token)
    return Subject(state.token.access_token, "stored", state.token)


def given_subject(value: str, source: str, secrets: Secrets) -> Subject:
    token = value.strip()
    secrets.add(token)
    return Subject(token or None, source)


# --- running the checks -----------------------------------------------------------------------


@dataclass
class _Run:
    rt: World
    profile: Profile
    settings: Settings
    subject: Subject
    token: str
    jwt: Jwt | None
    now: float
    min_valid: float
    metadata: dict[str, Any] | OAuthCliError | None = None

    def endpoint(self, explicit: str | None, key: str) -> str | None:
        """An explicit URL wins; else the issuer's metadata (a failure is kept for the run)."""
        if explicit:
            return explicit
        if isinstance(self.metadata, OAuthCliError):
            raise self.metadata
        try:
            url = discovery.discovered(self.rt, self.profile, key)
        except OAuthCliError as exc:
            self.metadata = exc
            raise
        return url


def _unconfigured(run: _Run, setting: str, key: str) -> str:
    if run.profile.issuer:
        return f"not configured: no validate.{setting}, and the issuer's metadata has no {key}"
    return f"not configured (validate.{setting})"


def validate(
    rt: World, profile: Profile, subject: Subject, min_valid: float | None = None
) -> Report:
    """Run every check on ``subject``; never refreshes (see ``stored_subject``)."""
    conf = settings(rt, profile)
    if subject.access_token is None:
        return Report(profile.name, (_absent(profile, subject), *_skip_rest("no token")))
    jwt = jwt_checks.parse_jwt(subject.access_token)
    run = _Run(rt, profile, conf, subject, subject.access_token, jwt,
               rt.clock(), profile.min_valid if min_valid is None else min_valid)  # fmt: skip
    checks = [_present(run), *(_guarded(name, check, run) for name, check in RUNNERS)]
    verdict = verification(checks, subject.source, stored=subject.stored is not None)
    return Report(profile.name, (*checks, verdict))


def _guarded(name: str, check: Callable[[_Run], Check], run: _Run) -> Check:
    try:
        return check(run)
    except OAuthCliError as exc:
        return Check(name, ERROR, exc.message, exc.hint, exc)


def _skip_rest(reason: str) -> list[Check]:
    return [Check(name, SKIPPED, reason) for name in (*(n for n, _ in RUNNERS), VERIFICATION)]


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
        exp = jwt_checks.claim_number(run.jwt, "exp")
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


def _signature(run: _Run) -> Check:
    """Find the JWK Set (explicit, else the issuer's metadata); ``jwt_checks`` does the rest."""
    early = jwt_checks.signature_precheck(run.jwt)
    if early is not None:
        return early
    assert run.jwt is not None
    url = run.endpoint(run.settings.jwks_url, "jwks_uri")
    if url is None:
        return Check("signature", SKIPPED, _unconfigured(run, "jwks_url", "jwks_uri"))
    where = "validate.jwks_url" if run.settings.jwks_url else "jwks_uri (issuer metadata)"

    def fetch(*, refetch: bool = False) -> tuple[dict[str, Any], bool]:
        return discovery.jwks(run.rt, run.profile, url, refetch=refetch, where=where)

    return jwt_checks.verify_signature(run.token, run.jwt, url, fetch)


# --- introspection and probe ------------------------------------------------------------------


def _introspection(run: _Run) -> Check:
    url = run.endpoint(run.settings.introspection_url, "introspection_endpoint")
    if url is None:
        detail = _unconfigured(run, "introspection_url", "introspection_endpoint")
        return Check("introspection", SKIPPED, detail)
    from oauthcli.wire.revoke import client_auth

    if not run.settings.introspection_url:  # an explicit one was checked with the settings
        check_url(url, run.profile, "introspection_endpoint (issuer metadata)", run.rt.secrets)
    headers, body = client_auth(run.profile, run.rt.resolver(run.profile), url)
    body.update({"token": run.token, "token_type_hint": "access_token"})
    request = TokenRequest(
        "POST", url, headers, {}, urlencode(body).encode("ascii"), run.rt.secrets
    )
    result = http.send(request, run.profile, run.rt.session, run.rt.sleep)
    host = urlsplit(url).hostname or url
    data = check_response(result, run.profile, url)  # a URL: a 404 names host and path
    if data.get("active") is not True:
        return Check("introspection", FAIL, f"{host} says the token is not active")
    facts = [f"{key} {data[key]}" for key in ("client_id", "scope") if data.get(key)]
    exp = jwt_checks.numeric_date(data.get("exp"))
    if exp is not None:
        facts.append(f"expires at {iso8601(exp)}")
    return Check("introspection", PASS, f"active at {host}" + "".join(f"; {f}" for f in facts))


def _probe_check(run: _Run) -> Check:
    probe = run.settings.probe
    if probe is None:
        return Check("probe", SKIPPED, "not configured (validate.probe)")
    headers = {**probe.headers, "Authorization": f"Bearer {run.token}"}
    request = TokenRequest(probe.method, probe.url, headers, {}, None, run.rt.secrets)
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
    ("jwt", lambda run: jwt_checks.structure(run.jwt, run.settings.expects_jwt)),
    ("exp", lambda run: jwt_checks.time_claim(run.jwt, "exp", run.now, run.settings.leeway)),
    ("nbf", lambda run: jwt_checks.time_claim(run.jwt, "nbf", run.now, run.settings.leeway)),
    ("iss", lambda run: jwt_checks.iss(run.jwt, run.settings.issuer)),
    ("aud", lambda run: jwt_checks.aud(run.jwt, run.settings.audience)),
    ("signature", _signature),
    ("introspection", _introspection),
    ("probe", _probe_check),
)
