"""The `verification` check of `validate`: did anything actually vouch for the token? (SPEC §13)

A reader of the claims alone cannot, since anyone can write an unsigned `exp`; a verified
signature, an active introspection and a passing probe can, and so can the stored expiry of a
token oauthcli obtained itself from the token endpoint. A token nothing vouches for
(``--token garbage`` with nothing configured) is not valid.
"""

from __future__ import annotations

from collections.abc import Sequence

from oauthcli.validate.jwt import ERROR, FAIL, PASS, SKIPPED, Check

VERIFICATION = "verification"
VERIFIERS = {"signature": "its signature", "introspection": "introspection", "probe": "the probe"}


def verification(checks: Sequence[Check], source: str, *, stored: bool) -> Check:
    """The check after all others: ``stored`` says the token came from the store."""
    by = [VERIFIERS[c.name] for c in checks if c.result == PASS and c.name in VERIFIERS]
    if stored and any(c.name == "expiry" and c.result == PASS for c in checks):
        by.insert(0, "the stored expiry of a token oauthcli obtained")
    if by:
        return Check(VERIFICATION, PASS, "verified by " + ", ".join(by))
    if any(c.result in (FAIL, ERROR) for c in checks):
        return Check(VERIFICATION, SKIPPED, "decided by the checks above")
    detail = (f"nothing verified the token from {source}: no signature, introspection "
              "or probe checked it, and oauthcli did not obtain it")  # fmt: skip
    hint = ("configure validate.jwks_url (or an issuer with a jwks_uri), "
            "validate.introspection_url or validate.probe for this profile")  # fmt: skip
    return Check(VERIFICATION, FAIL, detail, hint)
