"""The one place where errors become exit codes (SPEC §4), and the redacting log handler.

Shared by the typer-free entry (entry.py), the Typer app (cli.py) and nothing else: core
modules raise OAuthCliError subclasses, each of which declares its exit code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from oauthcli.errors import ExitCode, OAuthCliError
from oauthcli.worldtype import World


class _RedactingFormatter(logging.Formatter):
    """``warning: …`` / ``debug: …`` lines, every registered secret masked."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self._world = world

    def format(self, record: logging.LogRecord) -> str:
        from oauthcli.safetext import printable_lines

        text = f"{record.levelname.lower()}: {record.getMessage()}"
        # Messages quote server text and paths: control characters are escaped, and the lines
        # of a multi-line trace are indented so that none can pose as an `error:` line.
        return printable_lines(self._world.secrets.redact_text(text))


class _OncePerRun(logging.Filter):
    """A warning says its piece once per run (one per state file would bury the output)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        if text in self._seen:
            return False
        self._seen.add(text)
        return True


def configure_logging(world: World) -> None:
    handler = logging.StreamHandler(world.stderr)
    handler.setFormatter(_RedactingFormatter(world))
    handler.addFilter(_OncePerRun())
    logger = logging.getLogger("oauthcli")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if world.options.verbose else logging.WARNING)
    logger.propagate = False


def worst(errors: Sequence[OAuthCliError]) -> int:
    """Several profiles: the worst (highest) exit code among their failures."""
    return max((int(e.exit_code) for e in errors), default=int(ExitCode.OK))


def guarded(world: World, run: Callable[[], Any]) -> Any:
    """Run a command; map every failure to its exit code, a traceback only with -v."""
    try:
        return run()
    except OAuthCliError as exc:  # an ordinary refusal: one line (and a hint), never a traceback
        world.output.error(exc.message, exc.hint)
        _fail_evaluation(world)
        raise SystemExit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        world.stderr.write("interrupted\n")
        _fail_evaluation(world)
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
    except SystemExit as exc:  # a command that reports several failures itself
        if exc.code not in (None, 0):
            _fail_evaluation(world)
        raise
    except Exception as exc:  # a bug: one redacted line, and the traceback with -v
        world.output.error(f"internal error: {type(exc).__name__}: {exc}")
        _trace(world)
        _fail_evaluation(world)
        raise SystemExit(int(ExitCode.INTERNAL)) from None


def _trace(world: World) -> None:
    if world.options.verbose:
        import traceback

        world.stderr.write(world.secrets.redact_text(traceback.format_exc()))


def _fail_evaluation(world: World) -> None:
    """`eval "$(oauthcli env p)"` must not carry on after a failure (SPEC §13).

    The shell evaluates whatever is on stdout, and an empty string evaluates successfully
    whatever our exit status was. So a failed `env` prints a statement that fails in the
    shell it was asked for (``false``, ``throw`` …): ``set -e`` stops there and ``$?`` is
    non-zero. This is the one place that sees every failure, including usage errors that
    happen before the command body runs, hence the look at the command line.
    """
    shell = env_shell(world.argv)
    if shell is None or world.output.stdout_is_terminal():  # a person reads it: nothing to eval
        return
    from oauthcli.export.shellnames import failure_statement

    statement = failure_statement(shell)
    if statement:
        try:
            world.stdout.write(statement)
            world.stdout.flush()
        except (OSError, ValueError):  # stdout closed: nothing will evaluate it either
            pass


def env_shell(argv: Sequence[str]) -> str | None:
    """For an `env` command line, the value of its --shell (default sh); else None."""
    from oauthcli.options import GLOBALS

    valued = {flag for spec in GLOBALS if spec.takes_value for flag in spec.flags}
    words = iter(argv)
    for word in words:
        if word in valued:
            next(words, None)
        elif not word.startswith("-"):
            return _shell_option(words) if word == "env" else None
    return None


def _shell_option(words: Iterator[str]) -> str:
    shell = "sh"
    for word in words:
        if word == "--":
            break
        if word in ("--shell", "-s"):
            shell = next(words, shell)
        elif word.startswith("--shell="):
            shell = word.partition("=")[2]
        elif word.startswith("-s") and not word.startswith("--"):
            shell = word[2:]
    return shell
