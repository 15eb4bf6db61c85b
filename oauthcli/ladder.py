"""The one place where errors become exit codes (SPEC §4), and the redacting log handler.

Shared by the typer-free entry (entry.py), the Typer app (cli.py) and nothing else: core
modules raise OAuthCliError subclasses, each of which declares its exit code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from oauthcli.errors import ExitCode, OAuthCliError
from oauthcli.world import World


class _RedactingFormatter(logging.Formatter):
    """``warning: …`` / ``debug: …`` lines, every registered secret masked."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self._world = world

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        return self._world.secrets.redact_text(text)


def configure_logging(world: World) -> None:
    handler = logging.StreamHandler(world.stderr)
    handler.setFormatter(_RedactingFormatter(world))
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
    except OAuthCliError as exc:
        world.output.error(exc.message, exc.hint)
        _trace(world)
        raise SystemExit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        world.stderr.write("interrupted\n")
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
    except Exception as exc:  # an unexpected failure: one redacted line
        world.output.error(f"internal error: {type(exc).__name__}: {exc}")
        _trace(world)
        raise SystemExit(int(ExitCode.INTERNAL)) from None


def _trace(world: World) -> None:
    if world.options.verbose:
        import traceback

        world.stderr.write(world.secrets.redact_text(traceback.format_exc()))
