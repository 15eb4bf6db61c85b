"""What every run sets up, without typer: the app context, logging, and the one place where
errors become exit codes. Shared by the Typer app (cli.py) and the fast path (fastpath.py)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oauthcli.errors import OAuthCliError
from oauthcli.grants.driver import Runtime
from oauthcli.redact import SECRETS
from oauthcli.render import Output


@dataclass
class AppContext:
    runtime: Runtime
    output: Output

    @classmethod
    def create(
        cls, config: str | None, state_dir: str | None, quiet: bool, no_color: bool
    ) -> AppContext:
        from oauthcli.config import model as profiles
        from oauthcli.config.cache import ParsedConfigCache
        from oauthcli.store.file import Store, default_dir

        environ = os.environ
        store = Store(default_dir(state_dir, environ))
        runtime = Runtime(
            load_config=lambda: profiles.load(config, environ, cache=ParsedConfigCache(store)),
            store=store,
            environ=environ,
        )
        return cls(runtime, Output(quiet=quiet, color=not no_color, environ=environ))


class _RedactingFormatter(logging.Formatter):
    """``warning: …`` / ``debug: …`` lines, every registered secret masked."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        return SECRETS.redact_text(text)


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter())
    logger = logging.getLogger("oauthcli")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


def guarded(run: Callable[[], Any], verbose: Callable[[], bool]) -> Any:
    """Run a command; map every failure to its exit code (SPEC §4), a traceback only with -v."""
    try:
        return run()
    except OAuthCliError as exc:
        Output().error(exc.message, exc.hint)
        _trace(verbose())
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: one redacted line
        Output().error(f"internal error: {type(exc).__name__}: {exc}")
        _trace(verbose())
        sys.exit(70)


def _trace(verbose: bool) -> None:
    if verbose:
        import traceback

        sys.stderr.write(SECRETS.redact_text(traceback.format_exc()))
