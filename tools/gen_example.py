#!/usr/bin/env python3
"""Generate profiles.example.yaml from the provider catalogue (oauthcli/catalogue.yaml).

    python tools/gen_example.py           # rewrite profiles.example.yaml
    python tools/gen_example.py --check   # exit 1 if the file on disk differs from the output
    python tools/gen_example.py --stdout  # print the generated file

The output is deterministic: catalogue order, each profile's key order as written in the
catalogue, YAML from yaml.safe_dump, and the catalogue's notes as comments above each profile.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "oauthcli" / "catalogue.yaml"
EXAMPLE = ROOT / "profiles.example.yaml"
WIDTH = 79
RULE = "  # " + "-" * (WIDTH - 4)

HEADER = """\
# oauthcli example profiles
# =========================
#
# GENERATED FILE - do not edit. The source is oauthcli/catalogue.yaml (the same
# catalogue `oauthcli init` writes profiles from); regenerate this file with
#   python tools/gen_example.py
# The documentation each profile was checked against is listed above it and in
# docs/providers.md.
#
# One profile per OAuth provider or pattern: where its endpoints are, how the
# client authenticates, how `oauthcli login` obtains the first refresh token,
# and the quirks people trip over (comments above each profile).
#
# Try it:
#   oauthcli -c profiles.example.yaml list            # every profile, its token URL and status
#   oauthcli check -c profiles.example.yaml           # lint: schema, ${...} unset, insecure
#   oauthcli -c profiles.example.yaml refresh google --dry-run   # show the request, send nothing
#
# Use it: `oauthcli init PROVIDER` copies one profile into your profiles file
# (~/.config/oauthcli/profiles.yaml, or $OAUTHCLI_CONFIG), then export the
# environment variables it names and run `oauthcli login PROVIDER` once: the
# browser (authorization code + PKCE, loopback redirect) or, with --device, the
# device flow stores the first refresh token. `check` reports every ${env:...}
# that is still unset.
#
# Standard profiles: with no `body`, the refresh request is the RFC 6749 one
# (grant_type=refresh_token, the current refresh token, and client
# authentication per `auth`: basic, post, none, private_key_jwt or
# client_assertion). `scope` is sent on refresh only with `refresh_scope: true`.
# An explicit `body` is kept only where a provider needs something else.
#
# Redirects: `login.redirect_uri` defaults to http://127.0.0.1:0/callback (any
# free port). Providers that only accept a registered URI, port included, set a
# fixed one such as http://localhost:8765/callback - register exactly that.
#
# Secrets never go into this file. Every value can be a reference, resolved at
# the moment of use and never written back:
#   ${env:NAME}  ${NAME}  ${env:NAME:-default}   environment variable
#   ${file:~/path}                               file content, trailing newline stripped
#   ${cmd:pass show x}                           stdout of a command (run without a shell)
#   ${github_oidc:AUDIENCE}                      a GitHub Actions OIDC token (CI only)
#   ${refresh_token}                             the CURRENT refresh token: the latest rotated
#                                                one from the state store (after `login`), else
#                                                the profile's top-level `refresh_token:`
#   $$                                           a literal dollar sign
#
# Rotation: many providers below hand out a NEW refresh token on every refresh
# and kill the old one. oauthcli stores the rotated token durably before it
# reports success, so you never copy a refresh token back into your environment.
#
# Errors inside HTTP 200: GitHub, Slack and Zoho answer some failures with
# status 200 and an `error` field; oauthcli treats those as refusals (exit 4).
"""


def load_catalogue(path: Path = CATALOGUE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("providers"), dict):
        raise SystemExit(f"{path}: expected a mapping with `providers:`")
    return data


def _dump(value: Any) -> str:
    return yaml.safe_dump(
        value, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def _indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line if line else line for line in text.rstrip("\n").split("\n")]


def _comment(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def render(catalogue: dict[str, Any]) -> str:
    lines = HEADER.rstrip("\n").split("\n")
    defaults = catalogue.get("defaults")
    if defaults:
        lines += ["", *_dump({"defaults": defaults}).rstrip("\n").split("\n")]
    lines += ["", "profiles:"]
    for name, entry in catalogue["providers"].items():
        lines += ["", RULE]
        lines += _comment(str(entry["description"]), "  # ", "  # ")
        for note in entry.get("notes") or []:
            lines += _comment(str(note), "  # - ", "  #   ")
        docs = entry.get("docs") or []
        if docs:
            lines.append("  # Checked against:")
            lines += [f"  #   {url}" for url in docs]
        lines.append(RULE)
        lines += _indent(_dump({name: entry["profile"]}))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--output", type=Path, default=EXAMPLE)
    args = parser.parse_args(argv)

    text = render(load_catalogue(args.catalogue))
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            str(args.output),
            "generated",
            n=1,
        )
        sys.stderr.writelines(list(diff)[:60])
        sys.stderr.write(f"{args.output} is out of date: run python tools/gen_example.py\n")
        return 1
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
