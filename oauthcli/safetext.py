"""Text from outside (servers, tokens, files) made safe to show a person (SPEC §13).

A terminal acts on control characters: ESC starts an escape sequence (colours, cursor moves,
window titles, OSC 8 links), CR returns to the start of the line so later text overwrites what
came before, a C1 byte such as U+009B is a CSI on many terminals, and the bidirectional
overrides (U+202E …) reorder what is displayed. ``printable`` spells each such character as a
Python-style escape, so ``\\x1b[2J`` arrives as those seven characters and nothing happens.

Markup is the other half: rich reads ``[bold]`` as a style. Text from outside is never passed
to rich as markup; ``Output.table`` wraps plain strings in ``rich.text.Text`` for that reason.

Standard library only: the error path imports this, and it must stay cheap.
"""

from __future__ import annotations

import unicodedata

# Unicode categories that are never shown as themselves: controls (C0, DEL, C1), format
# characters (bidi overrides and isolates, zero-width characters), line and paragraph
# separators, and lone surrogates (which would not even encode as UTF-8).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def printable(text: object, limit: int | None = None) -> str:
    """``text`` on one line with every control, format or separator character escaped.

    With ``limit``, at most that many characters of the original are kept, then ``…``.
    """
    value = str(text)
    if limit is not None and len(value) > limit:
        value = value[:limit] + "…"
    if value.isprintable() and value.isascii():  # the common case: nothing to look at
        return value
    return "".join(_escape(c) if unsafe(c) else c for c in value)


def printable_lines(text: str, indent: str = "  ") -> str:
    """Several lines, each made ``printable``; continuation lines are indented, so that no
    line inside a message can pose as a line of its own (``error: …``)."""
    lines = text.split("\n")
    return ("\n" + indent).join(printable(line) for line in lines)


def json_safe(document: str) -> str:
    """A JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with every unsafe
    character written as a ``\\u`` escape: still the same JSON value, but nothing in it acts on a
    terminal, and a lone surrogate no longer makes the text unencodable as UTF-8."""
    return "".join(_json_escape(c) if unsafe(c) else c for c in document)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells astral characters as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
