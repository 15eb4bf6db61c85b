"""A live display of concurrent refreshes, drawn with rich on stderr (terminals only)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from oauthcli.errors import OAuthCliError
from oauthcli.render import Output
from oauthcli.token import Token


class Progress:
    def __init__(self, out: Output, names: list[str]) -> None:
        self._out = out
        self._names = names
        self._status: dict[str, str] = dict.fromkeys(names, "[yellow]refreshing…[/]")
        self._lock = threading.Lock()
        self._live: Any = None

    def __enter__(self) -> Progress:
        from rich.live import Live

        console = self._out.console(self._out.stderr)
        self._live = Live(self._render(), console=console, transient=True, refresh_per_second=12)
        self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._live.__exit__(kind, value, trace)

    def done(self, name: str, result: Token | OAuthCliError) -> None:
        with self._lock:
            ok = isinstance(result, Token)
            self._status[name] = "[green]ok[/]" if ok else "[red]failed[/]"
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for name in self._names:
            table.add_row(name, self._status[name])
        return table
