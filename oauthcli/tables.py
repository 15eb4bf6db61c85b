"""Tables for a person at a terminal, drawn with rich (imported only when one is drawn).

Two promises (SPEC §13, issue 11). Readable at any width: columns sit side by side only when
the longest word of every column fits; otherwise each row becomes a block of ``name  value``
lines, so no word is broken (only a single word longer than the whole line is folded). And
safe: a plain string is shown as text, never read as rich markup (``[bold]`` from a server stays
``[bold]``), with control characters escaped; a caller styles a cell by passing ``Text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from oauthcli.safetext import printable

_BORDER = 3  # "│ " before a column and " " after it; plus one for the table's right edge


def cell(value: Any) -> Text:
    """A cell as text: a ``Text`` as given (controls escaped), anything else as plain text."""
    if isinstance(value, Text):
        if printable(value.plain) == value.plain:
            return value
        return Text(printable(value.plain), style=value.style)
    return Text("" if value is None else printable(value))


def longest_word(text: Text | str) -> int:
    plain = text.plain if isinstance(text, Text) else text
    return max((len(word) for word in plain.split()), default=0)


def draw(
    console: Console, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    cells = [[cell(value) for value in row] for row in rows]
    needed = [
        max(longest_word(column), *(longest_word(row[i]) for row in cells))
        for i, column in enumerate(columns)
    ]
    if sum(needed) + _BORDER * len(columns) + 1 <= console.width:
        console.print(_side_by_side(title, columns, cells, needed))
    else:
        _blocks(console, title, columns, cells)


def _side_by_side(
    title: str | None, columns: Sequence[str], cells: list[list[Text]], needed: list[int]
) -> Table:
    table = Table(title=Text(printable(title)) if title else None, header_style="bold")
    for column, width in zip(columns, needed, strict=True):
        table.add_column(column, overflow="fold", min_width=width)
    for row in cells:
        table.add_row(*row)
    return table


def _blocks(
    console: Console, title: str | None, columns: Sequence[str], cells: list[list[Text]]
) -> None:
    """One block per row: the first cell as its heading, then ``column  value`` lines."""
    if title:
        console.print(Text(printable(title), style="bold"))
    label_width = max((len(column) for column in columns[1:]), default=0)
    for index, row in enumerate(cells):
        if index or title:
            console.print()
        heading = row[0].copy()
        heading.stylize("bold")
        console.print(heading, overflow="fold")
        grid = Table.grid(padding=(0, 2), pad_edge=False)
        grid.add_column(min_width=label_width + 2, no_wrap=True, justify="right")
        grid.add_column(overflow="fold")
        for column, value in zip(columns[1:], row[1:], strict=True):
            grid.add_row(Text(column, style="dim"), value)
        console.print(grid)
