"""What the commands share: the app context, the --format option, token rendering."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import typer

from oauthcli.errors import ExitCode, OAuthCliError, UsageError
from oauthcli.flow import Runtime
from oauthcli.render import FORMATS, Output, header, json_line
from oauthcli.token import Token, iso8601

# The command line as given (after global options were hoisted); `exec` needs to see its `--`.
RAW_ARGS: list[str] = []


@dataclass
class AppContext:
    runtime: Runtime
    output: Output

    @classmethod
    def create(
        cls, config: str | None, state_dir: str | None, quiet: bool, no_color: bool
    ) -> AppContext:
        from oauthcli import profiles
        from oauthcli.store import Store, default_dir

        environ = os.environ
        runtime = Runtime(
            load_config=lambda: profiles.load(config, environ),
            store=Store(default_dir(state_dir, environ)),
            environ=environ,
        )
        return cls(runtime, Output(quiet=quiet, color=not no_color, environ=environ))


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", "-f",
        help="token (default), json, header or table.",
        show_default=False,
    ),
]  # fmt: skip


def check_format(fmt: str | None, allowed: Sequence[str] = FORMATS) -> str | None:
    if fmt is not None and fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(allowed)}")
    return fmt


def exit_code_for(errors: Sequence[OAuthCliError]) -> int:
    """Several profiles: the worst (highest) exit code among their failures."""
    return max((int(e.exit_code) for e in errors), default=int(ExitCode.OK))


def render_tokens(out: Output, results: Sequence[tuple[str, Token]], fmt: str | None) -> None:
    """Print tokens in the requested format; several default to a table on a terminal."""
    if fmt is None:
        several = len(results) > 1
        fmt = ("table" if out.stdout_is_terminal() else "jsonl") if several else "token"
    secrets = [t.access_token for _, t in results]
    if fmt == "table":
        _table(out, results)
        return
    text = "".join(_one(name, token, fmt) for name, token in results)
    out.out(text, secrets)


def _one(name: str, token: Token, fmt: str) -> str:
    if fmt == "token":
        return token.access_token + "\n"
    if fmt == "header":
        return header(token.token_type, token.access_token)
    return json_line(token.public(name))


def _table(out: Output, results: Sequence[tuple[str, Token]]) -> None:
    from oauthcli.redact import mask

    rows = [
        (name, mask(t.access_token), t.token_type, iso8601(t.expires_at) or "unknown", t.scope)
        for name, t in results
    ]
    out.table(None, ("profile", "access token", "type", "expires at", "scope"), rows)
