"""JSON with limits (SPEC §13 "Every input is bounded"): size and nesting depth are checked
before the parser runs, so no document can exhaust memory or the parser's recursion."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
MAX_SIZE = 1024 * 1024


class JSONLimitError(ValueError):
    """Too large or too deeply nested: treated like any other unparseable document."""


def depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings (a linear scan, no recursion)."""
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_size: int = MAX_SIZE) -> Any:
    """``json.loads`` that raises JSONLimitError (a ValueError) beyond the limits."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if len(text) > max_size:
        raise JSONLimitError(f"JSON document larger than {max_size} characters")
    if depth(text) > max_depth:
        raise JSONLimitError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)
