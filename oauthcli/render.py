"""Output: plain data to stdout, everything else to stderr; rich is imported only when drawn."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from oauthcli.options import FORMATS
from oauthcli.redact import Secrets

if TYPE_CHECKING:
    from oauthcli.errors import OAuthCliError
    from oauthcli.token import Token

__all__ = ["FORMATS", "Output", "header", "json_line", "render_tokens"]


class Output:
    """The streams and switches of one run; tests pass their own streams."""

    def __init__(
        self, stdout: IO[str] | None = None, stderr: IO[str] | None = None, quiet: bool = False,
        color: bool = True, environ: Mapping[str, str] | None = None,
        secrets: Secrets | None = None,
    ) -> None:  # fmt: skip
        self.stdout: IO[str] = sys.stdout if stdout is None else stdout
        self.stderr: IO[str] = sys.stderr if stderr is None else stderr
        self.quiet = quiet
        self.color = color
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.secrets = Secrets() if secrets is None else secrets

    @property
    def in_github_actions(self) -> bool:
        return self.environ.get("GITHUB_ACTIONS") == "true"

    def stderr_is_terminal(self) -> bool:
        return _isatty(self.stderr)

    def stdout_is_terminal(self) -> bool:
        return _isatty(self.stdout)

    def out(self, text: str, secrets: Iterable[str | None] = ()) -> None:
        """Requested output; in GitHub Actions each secret in it is masked first.

        The ``::add-mask::`` lines go to stderr, which the runner parses as it does stdout:
        on stdout they would end up inside ``$(oauthcli token p)`` or be run by ``eval``.
        """
        masks = [s for s in secrets if s]
        if self.in_github_actions and masks:
            from oauthcli.export.shells import mask_lines

            self.stderr.write(mask_lines(masks))
            self.stderr.flush()
        try:
            self.stdout.write(text)
        except UnicodeEncodeError:  # a lone surrogate from a server: not writable, not a bug
            from oauthcli.errors import BadResponseError

            raise BadResponseError(
                "the answer holds characters that cannot be written out (lone surrogates)",
                hint="use -f json, which escapes them",
            ) from None
        self.stdout.flush()

    def note(self, text: str) -> None:
        """Informational, to stderr; silenced by --quiet."""
        if not self.quiet:
            from oauthcli.safetext import printable_lines

            self.stderr.write(printable_lines(self.secrets.redact_text(text)) + "\n")

    def error(self, message: str, hint: str | None = None) -> None:
        """One line each: messages quote servers, so control characters arrive escaped."""
        from oauthcli.safetext import printable

        self.stderr.write("error: " + printable(self.secrets.redact_text(message)) + "\n")
        if hint:
            self.stderr.write("hint: " + printable(self.secrets.redact_text(hint)) + "\n")
        self.stderr.flush()

    def console(self, stream: IO[str] | None = None) -> Any:
        from rich.console import Console

        target = stream or self.stdout
        return Console(
            file=target,
            no_color=not self.color,
            color_system="auto" if self.color else None,  # None: no bold or dim either
            highlight=False,
            force_terminal=_isatty(target) or None,
            soft_wrap=False,
            _environ=dict(self.environ),  # COLUMNS, TERM … of this run's world
        )

    def table(
        self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Columns side by side when every word fits, else one block per row: words are
        never broken. Strings are shown as plain text (never rich markup, controls escaped);
        pass a ``rich.text.Text`` for a styled cell."""
        from oauthcli.tables import draw

        draw(self.console(), title, columns, rows)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def json_line(data: Mapping[str, Any]) -> str:
    """One JSON line; characters that would act on a terminal (C1 controls, bidi overrides, lone
    surrogates, which UTF-8 cannot even encode) are written as ``\\u`` escapes: the same value."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii() or "\x7f" in text:
        from oauthcli.safetext import json_safe

        text = json_safe(text)
    return text + "\n"


def header(token_type: str | None, access_token: str) -> str:
    """``Authorization: Bearer …``; a token or type that would break the header is refused."""
    scheme = "Bearer" if not token_type or token_type.lower() == "bearer" else token_type
    if (
        not scheme
        or not set(scheme) <= _HEADER_SAFE
        or any(c < " " or c == "\x7f" for c in access_token)
    ):
        from oauthcli.errors import BadResponseError

        raise BadResponseError(
            "the token or token_type contains characters that cannot go in an HTTP header",
            hint="use -f token or -f json, which carry any value",
        )
    return f"Authorization: {scheme} {access_token}\n"


# An RFC 9110 token's characters (a set, not a regex: no compile on every run)
_HEADER_SAFE = frozenset(
    "!#$%&'*+.^_`|~-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def render_tokens(
    out: Output, results: Sequence[tuple[str, Token]], fmt: str | None, now: float | None = None
) -> None:
    """Print tokens in the requested format; several default to a table on a terminal."""
    if fmt is None:
        several = len(results) > 1
        fmt = ("table" if out.stdout_is_terminal() else "jsonl") if several else "token"
    secrets = [t.access_token for _, t in results]
    if fmt == "table":
        _token_table(out, results)
        return
    if fmt == "exec-credential":
        from oauthcli.export.kube import exec_credential

        out.out(exec_credential(results, out.environ), secrets)
        return
    text = "".join(_one_token(name, token, fmt, now) for name, token in results)
    out.out(text, secrets)


def render_outcomes(
    out: Output, outcomes: Sequence[tuple[str, Token | OAuthCliError]], fmt: str | None,
    now: float | None = None,
) -> None:  # fmt: skip
    """Several profiles: one entry per profile in the order asked, a failed one in its place,
    so the output keeps its shape whichever fails (the errors also go to stderr):

    - ``json`` (and JSON lines, the default off a terminal): ``{"profile", "error", "hint",
      "exit_code"}`` instead of the token object; ``select(.error)`` finds them;
    - ``token`` and ``header``: an empty line, so line N is still profile N;
    - ``table``: a ``failed`` row.
    """
    from oauthcli.errors import OAuthCliError

    if fmt is None:
        fmt = "table" if out.stdout_is_terminal() else "jsonl"
    if fmt == "table":
        _outcome_table(out, outcomes)
        return
    secrets = [r.access_token for _, r in outcomes if not isinstance(r, OAuthCliError)]
    text = "".join(
        _one_failure(out, name, r, fmt) if isinstance(r, OAuthCliError)
        else _one_token(name, r, fmt, now)
        for name, r in outcomes
    )  # fmt: skip
    out.out(text, secrets)


def _one_failure(out: Output, name: str, error: OAuthCliError, fmt: str) -> str:
    if fmt in ("token", "header"):
        return "\n"
    from oauthcli.safetext import printable

    shown = {"message": error.message, "hint": error.hint}
    text = {k: printable(out.secrets.redact_text(v)) if v else None for k, v in shown.items()}
    return json_line({"profile": name, "error": text["message"], "hint": text["hint"],
                      "exit_code": int(error.exit_code)})  # fmt: skip


def _outcome_table(out: Output, outcomes: Sequence[tuple[str, Token | OAuthCliError]]) -> None:
    from rich.text import Text

    from oauthcli.errors import OAuthCliError
    from oauthcli.redact import mask
    from oauthcli.token import iso8601

    failed = Text("failed", style="bold red")
    rows = [
        (name, failed, None, None, None) if isinstance(t, OAuthCliError)
        else (name, mask(t.access_token), t.token_type, iso8601(t.expires_at) or "unknown", t.scope)
        for name, t in outcomes
    ]  # fmt: skip
    out.table(None, ("profile", "access token", "type", "expires at", "scope"), rows)


def _one_token(name: str, token: Token, fmt: str, now: float | None) -> str:
    if fmt == "token":
        return token.access_token + "\n"
    if fmt == "header":
        return header(token.token_type, token.access_token)
    return json_line(token.public(name, now))


def _token_table(out: Output, results: Sequence[tuple[str, Token]]) -> None:
    from oauthcli.redact import mask
    from oauthcli.token import iso8601

    rows = [
        (name, mask(t.access_token), t.token_type, iso8601(t.expires_at) or "unknown", t.scope)
        for name, t in results
    ]
    out.table(None, ("profile", "access token", "type", "expires at", "scope"), rows)
