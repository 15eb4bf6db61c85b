"""References inside profile strings, resolved at the moment of use (SPEC §2 "Values").

``${env:NAME}``, ``${NAME}``, ``${env:NAME:-default}``, ``${file:PATH}``, ``${cmd:COMMAND}``,
``${github_oidc:AUDIENCE}`` (SPEC §12), ``${refresh_token}`` and ``$$``. Resolved values are
registered as secrets and never written back anywhere.
"""


import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from oauthcli.errors import ConfigError
from oauthcli.redact import Secrets

# `$$`, or `${...}` with no nested braces, or a lone `$` (kept as written).
_TOKEN = re.compile(r"\$\$|\$\{([^{}]*)\}")
REFERENCE = re.compile(r"\$\{[^{}]*\}")  # a whole reference expression, for display
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_FILE = 1 << 20  # ${file:} content
MAX_OUTPUT = 1 << 20  # ${cmd:} standard output; beyond it the command is killed

Encoder = Callable[[str], str]
# (profile, audience, field) → a GitHub Actions ID token (wire.github_oidc.GitHubIdTokens)
IdTokenSource = Callable[[str, str, str], str]
GITHUB_OIDC_VARIABLES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


class Reference(NamedTuple):
    kind: str  # env, file, cmd, github_oidc, refresh_token
    target: str
    default: str | None = None


def parse_reference(expr: str) -> Reference:
    """Parse the inside of ``${…}``; raises ValueError on a malformed one."""
    if expr == "refresh_token":
        return Reference("refresh_token", "")
    kind, sep, rest = expr.partition(":")
    if not sep:
        kind, rest = "env", expr
    if kind == "env":
        name, dsep, default = rest.partition(":-")
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        return Reference("env", name, default if dsep else None)
    if kind in ("file", "cmd") and rest.strip():
        return Reference(kind, rest.strip())
    if kind == "github_oidc":
        if not rest.strip():
            raise ValueError("${github_oidc:AUDIENCE} needs the audience the token is for")
        return Reference(kind, rest.strip())
    raise ValueError(f"unknown reference ${{{expr}}}")


def preview(expression: str) -> str:
    """What a dry run sends in place of a reference it does not resolve (it would need a request
    to another server, e.g. ${github_oidc:}): the reference as written, marked."""
    return f"<{expression}: resolved when sent>"


def is_preview(value: str) -> bool:
    return value.startswith("<${") and value.endswith("}: resolved when sent>")


def shown_preview(value: str) -> str:
    """How a dry run shows the placeholder: worded apart from it, so that the placeholder,
    registered as a secret where the field is secret, is not what is masked."""
    return value[1:].removesuffix(": resolved when sent>") + " (resolved when sent)"


class Resolver:
    """Resolves references for one profile; every resolved value becomes a registered secret."""

    def __init__(
        self,
        profile: str,
        environ: Mapping[str, str] | None = None,
        refresh_token: Callable[[], str | None] | None = None,
        secrets: Secrets | None = None,
        clock: Callable[[], float] = time.time,  # the run's clock: assertions are stamped with it
        id_token: IdTokenSource | None = None,  # the run's ${github_oidc:} cache (World.id_token)
        command_timeout: float = 10.0,  # a ${cmd:} is killed after this: the profile's timeout
    ) -> None:
        self.profile = profile
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.refresh_token = refresh_token
        self.secrets = Secrets() if secrets is None else secrets
        self.clock = clock
        self.id_token = id_token
        self.command_timeout = command_timeout

    def resolve(self, text: str, where: str, encode: Encoder | None = None) -> str:
        """Substitute every reference in ``text``; ``encode`` is applied to substituted values."""

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            value = self._value(match.group(1), where)
            return encode(value) if encode else value

        return _TOKEN.sub(substitute, text)

    def _value(self, expr: str, where: str) -> str:
        try:
            ref = parse_reference(expr)
        except ValueError as exc:
            raise ConfigError(f"profile {self.profile!r}, field {where}: {exc}") from None
        value = self._lookup(ref, where)
        if (ref.kind != "env" or ref.target in self.environ) and not is_preview(value):
            self.secrets.add(value)
        return value

    def _lookup(self, ref: Reference, where: str) -> str:
        if ref.kind == "env":
            return self._env(ref, where)
        if ref.kind == "file":
            return _read_file(ref.target, self.profile, where)
        if ref.kind == "cmd":
            return _run_command(ref.target, self.profile, where, self.command_timeout)
        if ref.kind == "github_oidc":
            return self._github_oidc(ref.target, where)
        return self._refresh_token(where)

    def _github_oidc(self, audience: str, where: str) -> str:
        if self.id_token is None:  # only a World's resolver can fetch (it holds the session)
            raise ConfigError(
                f"profile {self.profile!r}, field {where}: ${{github_oidc:}} is not available here"
            )
        return self.id_token(self.profile, audience, where)

    def _env(self, ref: Reference, where: str) -> str:
        value = self.environ.get(ref.target)
        if value is not None:
            return value
        if ref.default is not None:
            return ref.default
        from oauthcli.config.literal import secret_param

        # A default is no fix for a secret: a refresh token written there dies on rotation.
        secret = secret_param(where.rsplit(".", 1)[-1])
        raise ConfigError(
            f"profile {self.profile!r}, field {where}: "
            f"environment variable {ref.target} is not set",
            hint=f"export {ref.target}=…" if secret
            else f"export {ref.target}=… or use ${{env:{ref.target}:-default}}",
        )  # fmt: skip

    def _refresh_token(self, where: str) -> str:
        value = self.refresh_token() if self.refresh_token else None
        if not value:
            raise ConfigError(
                f"profile {self.profile!r}, field {where}: no refresh token "
                "(run `oauthcli login` to obtain one, or set the profile's refresh_token)"
            )
        return value


def _read_file(path: str, profile: str, where: str) -> str:
    """The file's text: a regular file of at most MAX_FILE bytes, never a FIFO or device."""
    from oauthcli.config.files import NotRegular, decode, read_regular

    try:
        data, _ = read_regular(Path(path).expanduser(), MAX_FILE)
        text = decode(data)
    except (OSError, UnicodeDecodeError, NotRegular) as exc:
        if isinstance(exc, OSError):
            reason = exc.strerror or type(exc).__name__
        else:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise ConfigError(
            f"profile {profile!r}, field {where}: cannot read ${{file:{path}}}: {reason}"
        ) from None
    return _strip_newline(text)


def _run_command(command: str, profile: str, where: str, timeout: float = 10.0) -> str:
    """The command's output: no shell, stdin closed (it is exec's COMMAND's), at most
    MAX_OUTPUT bytes and ``timeout`` seconds, else it is killed and the reference fails."""
    import shlex
    import subprocess

    prefix = f"profile {profile!r}, field {where}: ${{cmd:…}}"
    try:
        argv = shlex.split(command)
        if not argv:
            raise ValueError("empty command")
        process = subprocess.Popen(  # no shell: the command line is split, never interpreted
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        name = command.split()[0] if command.split() else command
        raise ConfigError(f"{prefix} could not run {name!r}: {reason}") from None
    output, failure = _bounded_output(process, timeout)
    if failure:
        raise ConfigError(f"{prefix} {failure}")
    if process.returncode != 0:
        how = (f"was killed by signal {-process.returncode}" if process.returncode < 0
               else f"exited with status {process.returncode}")  # fmt: skip
        raise ConfigError(f"{prefix} {how}")
    try:
        return _strip_newline(output.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{prefix} printed something that is not UTF-8 text") from None


def _bounded_output(process: Any, timeout: float) -> tuple[bytes, str | None]:
    """Read stdout in a thread, so a silent or endless command cannot hold the run."""
    import subprocess
    import threading

    chunks: list[bytes] = []
    over: list[bool] = []

    def pump() -> None:
        total, fd = 0, process.stdout.fileno()
        while chunk := os.read(fd, 1 << 16):
            total += len(chunk)
            if total > MAX_OUTPUT:
                over.append(True)
                process.kill()
                return
            chunks.append(chunk)

    deadline = time.monotonic() + timeout
    reader = threading.Thread(target=pump, name="oauthcli-cmd", daemon=True)
    reader.start()
    reader.join(timeout)
    late = f"did not finish within {timeout:g}s (the profile's timeout); it was killed"
    failure = late if reader.is_alive() else None
    if over:
        failure = f"printed more than {MAX_OUTPUT >> 20} MiB; it was killed"
    if failure is None:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # closed its output but kept running
            failure = late
    if failure:
        process.kill()
        process.wait()
        reader.join(0.5)  # a grandchild may still hold the pipe: the daemon thread is left
    if not reader.is_alive():
        process.stdout.close()
    return b"".join(chunks), failure


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def problems(ref: Reference, environ: Mapping[str, str]) -> str | None:
    """Why a reference would not resolve now, without running commands (for `check`)."""
    if ref.kind == "env" and ref.target not in environ and ref.default is None:
        return f"environment variable {ref.target} is not set"
    if ref.kind == "file":
        return _file_problem(ref.target)
    if ref.kind == "cmd":
        import shlex
        import shutil

        try:
            argv = shlex.split(ref.target)
        except ValueError as exc:
            return f"command {ref.target!r} cannot be parsed: {exc}"
        if not argv or shutil.which(argv[0]) is None:
            return f"command {argv[0] if argv else ref.target!r} not found"
    if ref.kind == "github_oidc" and not all(environ.get(v) for v in GITHUB_OIDC_VARIABLES):
        return "${github_oidc:…} resolves only in a GitHub Actions job " + outside_actions()
    return None


def _file_problem(path: str) -> str | None:
    """Why ${file:PATH} would not be read, from a stat alone (a FIFO is never opened)."""
    from oauthcli.config.files import NotRegular, check_regular

    full = Path(path).expanduser()
    try:
        check_regular(os.stat(full), MAX_FILE)
    except NotRegular as exc:
        return f"file {path} {exc}"
    except OSError as exc:
        return f"file {path} cannot be read: {exc.strerror or type(exc).__name__}"
    return None if os.access(full, os.R_OK) else f"file {path} is not readable"


def outside_actions() -> str:
    """Why ${github_oidc:} cannot resolve here (for `check` and the error)."""
    names = " and ".join(GITHUB_OIDC_VARIABLES)
    return f"with `permissions: id-token: write` ({names} are not set)"
