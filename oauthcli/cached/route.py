"""The cached route's command lines and answers: `token P [-f FORMAT] [--min-valid S]`,
`env P [--shell sh]` and `git-credential P get`, with -c, --state-dir, --store, -q, --no-color.

``answer`` returns True when it printed the answer; otherwise the run goes on through the full
path (entry.py), given back whatever of stdin was read (git writes its request there). The
command lines accepted are a subset of what entry.parse accepts, read the same way: global
options anywhere, a command's own options after the command, no repeats, no value that looks
like an option (tests/test_fastpath.py checks the two agree). The answers are the full path's,
character for character: render.render_tokens, export.kube, export.git, export.shells (sh) and
Output.out's ``::add-mask::`` lines under GitHub Actions.
"""

from __future__ import annotations

import time

from oauthcli.cached import jsonlite, rules
from oauthcli.cached.lookup import stored_token

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import IO, Any

GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--no-color": "no_color"}
GLOBAL_VALUED = {"-c": "config", "--config": "config", "--state-dir": "state_dir",
                 "--store": "store"}  # fmt: skip
COMMANDS: dict[str, tuple[int, dict[str, str]]] = {  # command → (words, its options)
    "token": (1, {"-f": "fmt", "--format": "fmt", "--min-valid": "min_valid"}),
    "env": (1, {"-s": "shell", "--shell": "shell"}),
    "git-credential": (2, {}),
}
FORMATS = ("token", "json", "header", "exec-credential")
SH_SHELLS = ("sh", "bash", "zsh", "dash", "ksh")  # export.shellnames: all read sh syntax
KUBE_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
GIT_MAX_INPUT = 64 * 1024  # export.git.MAX_INPUT
_HEADER_TOKEN = frozenset(
    "!#$%&'*+.^_`|~-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_NAME = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789")


class Line:
    """A command line of the cached route."""

    def __init__(self, command: str, words: list[str], given: dict[str, Any]) -> None:
        self.command = command
        self.profile = words[0]
        self.action = words[1] if len(words) > 1 else None
        self.fmt: str | None = given.get("fmt")
        self.min_valid: float | None = given.get("min_valid")
        self.shell: str = given.get("shell", "sh")
        self.config: str | None = given.get("config")
        self.state_dir: str | None = given.get("state_dir")
        self.store: str | None = given.get("store")


def match(argv: list[str]) -> Line | None:
    command: str | None = None
    words: list[str] = []
    given: dict[str, Any] = {}
    args = iter(argv)
    for arg in args:
        if not arg.startswith("-"):
            if command is None and arg not in COMMANDS:
                return None
            if command is None:
                command = arg
            else:
                words.append(arg)
            continue
        found = _option(arg, args, COMMANDS[command][1] if command else {})
        if found is None or found[0] in given:
            return None
        given[found[0]] = found[1]
    if command is None or len(words) != COMMANDS[command][0] or not _values(given):
        return None
    return Line(command, words, given)


def _option(arg: str, args: Iterator[str], own: dict[str, str]) -> tuple[str, Any] | None:
    if arg in GLOBAL_FLAGS:
        return GLOBAL_FLAGS[arg], True
    name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    dest = GLOBAL_VALUED.get(name) or own.get(name)
    value = inline if eq else next(args, None)
    if dest is None or value is None or (value.startswith("-") and value != "-"):
        return None
    return dest, value


def _values(given: dict[str, Any]) -> bool:
    """Formats and shells this route answers; --min-valid a finite number of seconds."""
    if given.get("fmt", "token") not in FORMATS or given.get("shell", "sh") not in SH_SHELLS:
        return False
    if "min_valid" in given:
        try:
            given["min_valid"] = float(given["min_valid"])
        except ValueError:
            return False
        return bool(0 <= given["min_valid"] < float("inf"))
    return True


def answer(argv: list[str], environ: Mapping[str, str], stdin: IO[str], stdout: IO[str],
           stderr: IO[str]) -> bool | str:  # fmt: skip
    """True: answered. False: not, stdin untouched. A string: not, and this was read of stdin."""
    line = match(argv)
    if line is None or (line.command == "git-credential" and line.action != "get"):
        return False
    consumed, valid = read_git_request(stdin) if line.command == "git-credential" else ("", True)
    fallback: bool | str = consumed if line.command == "git-credential" else False
    try:
        found = stored_token(line, environ, time.time()) if valid else None
        text = _render(line, found, environ, time.time()) if found else None
        if text is None:
            return fallback
        _write(text, found[0], environ, stdout, stderr)  # type: ignore[index]
    except Exception:  # noqa: BLE001 - any doubt: the full path decides and reports
        return fallback
    return True


def read_git_request(stdin: IO[str]) -> tuple[str, bool]:
    """What export.git.read_request reads of stdin, line by line, and whether it is valid."""
    lines: list[str] = []
    budget = GIT_MAX_INPUT
    while True:
        line = stdin.readline(budget + 1)
        lines.append(line)
        budget -= len(line)
        if budget < 0:
            return "".join(lines), False
        text = line.rstrip("\r\n") if line.endswith("\n") else line
        if not text:
            return "".join(lines), True
        key, eq, _ = text.partition("=")
        if not eq or not key or "\0" in text:
            return "".join(lines), False


def _render(line: Line, found: tuple[dict[str, Any], dict[str, Any]], environ: Mapping[str, str],
            now: float) -> tuple[str, list[str]] | None:  # fmt: skip
    token, entry = found
    access = token["access_token"]
    if not (access.isascii() and access.isprintable()):
        return None
    if line.command == "env":
        return _env(line.profile, token, entry, now)
    if line.command == "git-credential":
        text = _git(token, entry)
    else:
        text = _token(line, token, environ, now)
    return None if text is None else (text, [access])


def _token(line: Line, token: dict[str, Any], environ: Mapping[str, str], now: float) -> str | None:
    """render.render_tokens of one token."""
    access: str = token["access_token"]
    expires_at = token.get("expires_at")
    if line.fmt in (None, "token"):
        return access + "\n"
    if line.fmt == "header":
        kind = token.get("token_type")
        scheme = "Bearer" if not kind or kind.lower() == "bearer" else kind
        return f"Authorization: {scheme} {access}\n" if set(scheme) <= _HEADER_TOKEN else None
    if line.fmt == "json":
        text = jsonlite.dumps(_public(line.profile, token, now), compact=True, ascii=False)
        return text + "\n" if text.isascii() and "\x7f" not in text else None
    version = _kube_version(environ)
    status = {"token": access}
    if expires_at is not None:
        status["expirationTimestamp"] = _iso8601(expires_at)
    credential = {"apiVersion": version, "kind": "ExecCredential", "status": status}
    return jsonlite.dumps(credential, compact=True) + "\n" if version else None


def _kube_version(environ: Mapping[str, str]) -> str | None:
    """export.kube.api_version; None where it would be an error."""
    info = environ.get("KUBERNETES_EXEC_INFO")
    if not info:
        return KUBE_VERSIONS[0]
    data = jsonlite.loads(info)
    version = data.get("apiVersion") if isinstance(data, dict) else None
    return str(version) if version in KUBE_VERSIONS else None


def _iso8601(timestamp: float) -> str:
    """token.iso8601, within the range where time and datetime agree (else ValueError)."""
    if not -1e10 < timestamp < 1e10:
        raise ValueError("timestamp out of range")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(timestamp)))


def _public(profile: str, token: dict[str, Any], now: float) -> dict[str, Any]:
    """token.Token.public."""
    expires_at = token.get("expires_at")
    return {"profile": profile, "access_token": token["access_token"],
            "token_type": token.get("token_type"),
            "expires_at": None if expires_at is None else _iso8601(expires_at),
            "expires_in": None if expires_at is None else int(expires_at - now),
            "scope": token.get("scope")}  # fmt: skip


def _git(token: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """export.git.username and answer, for a username that references nothing."""
    user = entry.get("git_username")
    if not isinstance(user, str) or not user or any(c in user for c in "$\n\r\0"):
        return None
    lines = [f"username={user}", f"password={token['access_token']}"]
    if token.get("expires_at") is not None:
        lines.append(f"password_expiry_utc={int(token['expires_at'])}")
    return "\n".join(lines) + "\n"


def _env(profile: str, token: dict[str, Any], entry: dict[str, Any],
         now: float) -> tuple[str, list[str]] | None:  # fmt: skip
    """commands.env for one profile and sh (export.variables, export.shells._sh)."""
    lines, secrets = [], []
    for name, field in (entry.get("export") or rules.DEFAULT_EXPORT).items():
        value = _text(_field(token, field, now))
        if not _variable_name(name) or not (value.isascii() and value.isprintable()):
            return None
        lines.append(f"export {name}='" + value.replace("'", "'\\''") + "'\n")
        if field not in rules.PUBLIC_FIELDS:
            secrets.append(value)
    return "".join(lines), secrets


def _variable_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and not name[0].isdigit() and set(name) <= _NAME


def _field(token: dict[str, Any], name: str, now: float) -> Any:
    """token.Token.field."""
    expires_at = token.get("expires_at")
    normalized = {**_public("", token, now), "id_token": token.get("id_token"),
                  "expires_at_epoch": None if expires_at is None else int(expires_at)}  # fmt: skip
    if name in normalized:
        return normalized[name]
    current: Any = token.get("response", {})
    for part in name.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _text(value: object) -> str:
    """export.variables._text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else jsonlite.dumps(value)


def _write(text: tuple[str, list[str]], token: dict[str, Any], environ: Mapping[str, str],
           stdout: IO[str], stderr: IO[str]) -> None:  # fmt: skip
    """render.Output.out: in GitHub Actions the secrets are masked (on stderr) first."""
    body, secrets = text
    masks = list(dict.fromkeys(s for s in secrets if s.strip()))
    if environ.get("GITHUB_ACTIONS") == "true" and masks:
        stderr.write("".join(f"::add-mask::{s.replace('%', '%25')}\n" for s in masks))
        stderr.flush()
    stdout.write(body)
    stdout.flush()
