"""A fake GitHub Actions OIDC provider: the runner's ID-token endpoint, discovery and JWKS.

The runner gives a job two variables: ``ACTIONS_ID_TOKEN_REQUEST_URL`` (already carrying a
query string, ``?api-version=2.0``) and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``. The client sends
``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD`` with ``Authorization: bearer $TOKEN`` and gets
``{"count": 1, "value": "<JWT>"}``; the JWT is RS256-signed by the issuer's key, ``iss`` is this
server's URL (``/.well-known/openid-configuration`` and ``/.well-known/jwks`` are served), ``aud``
the requested audience (GitHub's default, ``https://github.com/<owner>``, when none is given).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .keys import KeyPair, generate_keypair
from .loopback import LoopbackServer, RecordedRequest, Response, json_response

DEFAULT_SUBJECT = "repo:octo/app:ref:refs/heads/main"
_ISSUER_KEY: KeyPair | None = None


def _issuer_key() -> KeyPair:
    """One RSA key per test session (key generation is the slow part)."""
    global _ISSUER_KEY
    if _ISSUER_KEY is None:
        _ISSUER_KEY = generate_keypair("RS256", kid="fake-github-actions-1")
    return _ISSUER_KEY


@dataclass(frozen=True)
class IssuedIdToken:
    token: str
    claims: dict[str, Any]


class FakeGitHubOIDC(LoopbackServer):
    """The fake issuer. Attributes to tweak per test: ``subject``, ``lifetime``,
    ``extra_claims`` (merged into every token), ``request_token``."""

    def __init__(
        self, *, subject: str = DEFAULT_SUBJECT, lifetime: int = 300, key: KeyPair | None = None
    ) -> None:
        super().__init__()
        self.key = key or _issuer_key()
        self.subject = subject
        self.lifetime = lifetime
        self.extra_claims: dict[str, Any] = {}
        self.request_token = "ghs_fake_" + secrets.token_urlsafe(24)
        self.idtoken_path = (
            f"/_apis/distributedtask/hubs/Actions/plans/{uuid.uuid4()}/jobs/{uuid.uuid4()}/idtoken"
        )
        self.issued: list[IssuedIdToken] = []

    # what a test needs ------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_url(self) -> str:
        return self.url("/.well-known/jwks")

    @property
    def request_url(self) -> str:
        """``ACTIONS_ID_TOKEN_REQUEST_URL``: already has a query, so clients append ``&audience=``."""
        return self.url(self.idtoken_path) + "?api-version=2.0"

    @property
    def env(self) -> dict[str, str]:
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.public_jwk()]}

    @property
    def owner(self) -> str:
        repo = self.subject.split(":")[1] if self.subject.startswith("repo:") else "octo/app"
        return repo.split("/")[0]

    def mint(self, audience: str | list[str], **overrides: Any) -> str:
        """An ID token as the endpoint would issue it, without HTTP (``overrides`` replace or,
        when None, remove claims)."""
        now = int(time.time())
        repo = self.subject.split(":")[1] if self.subject.startswith("repo:") else "octo/app"
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": self.subject,
            "aud": audience,
            "ref": "refs/heads/main",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "repository": repo,
            "repository_owner": repo.split("/")[0],
            "run_id": "1234567890",
            "run_number": "42",
            "run_attempt": "1",
            "actor": "octocat",
            "workflow": "CI",
            "event_name": "push",
            "ref_type": "branch",
            "job_workflow_ref": f"{repo}/.github/workflows/ci.yml@refs/heads/main",
            "runner_environment": "github-hosted",
            "iss": self.issuer,
            "nbf": now - 5,
            "iat": now,
            "exp": now + self.lifetime,
            **self.extra_claims,
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        token = self.key.sign(claims, {"typ": "JWT", "x5t": self.key.kid})
        with self._lock:
            self.issued.append(IssuedIdToken(token, claims))
        return token

    # HTTP --------------------------------------------------------------------------------------
    def dispatch(self, record: RecordedRequest) -> Response:
        if record.method != "GET":
            return json_response(405, {"message": "Method not allowed"})
        if record.path == "/.well-known/openid-configuration":
            return json_response(
                200,
                {
                    "issuer": self.issuer,
                    "jwks_uri": self.jwks_url,
                    "subject_types_supported": ["public", "pairwise"],
                    "response_types_supported": ["id_token"],
                    "claims_supported": [
                        "sub",
                        "aud",
                        "exp",
                        "iat",
                        "iss",
                        "jti",
                        "nbf",
                        "ref",
                        "repository",
                        "repository_owner",
                        "run_id",
                        "actor",
                    ],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid"],
                },
            )
        if record.path == "/.well-known/jwks":
            return json_response(200, self.jwks())
        if record.path == self.idtoken_path:
            auth = record.header("authorization") or ""
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                token.strip(), self.request_token
            ):
                record.notes["rejected"] = "bad request token"
                return json_response(401, {"message": "Bad credentials"})
            audience = record.query.get("audience") or f"https://github.com/{self.owner}"
            token = self.mint(audience)
            record.notes["audience"] = audience
            return json_response(200, {"count": 1, "value": token})
        return json_response(404, {"message": "Not Found"})
