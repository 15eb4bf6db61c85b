"""The Kubernetes ExecCredential that `oauthcli token P -f exec-credential` prints (SPEC §11).

kubectl runs a credential plugin before its requests and reads one JSON document from its
stdout; ``$KUBERNETES_EXEC_INFO`` (set by kubectl) names the ``apiVersion`` it expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from oauthcli.errors import ConfigError, UsageError
from oauthcli.token import iso8601

if TYPE_CHECKING:
    from oauthcli.token import Token

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
API_VERSIONS = (V1, V1BETA1)
_HINT = f"set users[].user.exec.apiVersion in the kubeconfig to {V1} (or v1beta1)"


def api_version(environ: Mapping[str, str]) -> str:
    """The apiVersion kubectl asks for in ``$KUBERNETES_EXEC_INFO``; v1 when it is absent."""
    info = environ.get("KUBERNETES_EXEC_INFO")
    if not info:
        return V1
    try:
        data = json.loads(info)
    except (ValueError, RecursionError):
        raise ConfigError("$KUBERNETES_EXEC_INFO is not a JSON document", hint=_HINT) from None
    version = data.get("apiVersion") if isinstance(data, dict) else None
    if version not in API_VERSIONS:
        shown = repr(version)[:80] if version is not None else "none"
        raise ConfigError(
            f"$KUBERNETES_EXEC_INFO asks for apiVersion {shown}; "
            f"oauthcli answers {' and '.join(API_VERSIONS)}",
            hint=_HINT,
        )
    assert isinstance(version, str)
    return version


def check(environ: Mapping[str, str], profiles: int) -> None:
    """Before any request: one profile, and an apiVersion oauthcli can answer."""
    if profiles != 1:
        raise UsageError("-f exec-credential answers for exactly one profile")
    api_version(environ)


def exec_credential(results: Sequence[tuple[str, Token]], environ: Mapping[str, str]) -> str:
    """``{"apiVersion", "kind": "ExecCredential", "status": {"token", "expirationTimestamp"}}``."""
    check(environ, len(results))
    token = results[0][1]
    status = {"token": token.access_token}
    if token.expires_at is not None:  # unknown: kubectl keeps it for its one run
        status["expirationTimestamp"] = str(iso8601(token.expires_at))
    credential = {"apiVersion": api_version(environ), "kind": "ExecCredential", "status": status}
    return json.dumps(credential, separators=(",", ":")) + "\n"
