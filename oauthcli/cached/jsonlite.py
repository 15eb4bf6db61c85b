"""``json.loads`` and the few ``json.dumps`` the cached route needs, on CPython's ``_json``.

``import json`` compiles five regular expressions (json.scanner, json.decoder, json.encoder):
about 2.5 ms, a tenth of the cached route's whole budget beyond the interpreter. The C scanner
and string encoders underneath are the same ones json uses, so the values are the same
(tests/test_perf_cached_rules.py compares both over generated documents). Where ``_json`` is
missing (another Python), json itself is used.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from typing import Any

_SPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}

try:
    from _json import encode_basestring, encode_basestring_ascii, make_scanner
except ImportError:  # pragma: no cover - not CPython
    from json import dumps as _dumps
    from json import loads as _loads

    def loads(data: bytes | str) -> Any:
        return _loads(data)

    def dumps(value: Any, compact: bool = False, ascii: bool = True) -> str:
        separators = (",", ":") if compact else None
        return _dumps(value, separators=separators, ensure_ascii=ascii)

else:

    class _Context:
        """What json.decoder.JSONDecoder gives the C scanner, with json.loads' defaults."""

        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = _CONSTANTS.__getitem__

    _scan = make_scanner(_Context())  # type: ignore[arg-type]  # any object with these fields

    def loads(data: bytes | str) -> Any:
        """json.loads of a UTF-8 document; ValueError when it is none."""
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        start = len(text) - len(text.lstrip(_SPACE))
        try:
            value, end = _scan(text, start)
        except StopIteration:
            raise ValueError("not a JSON document") from None
        if text[end:].strip(_SPACE):
            raise ValueError("extra data after the JSON document")
        return value

    def dumps(value: Any, compact: bool = False, ascii: bool = True) -> str:
        """json.dumps of str, int, float, bool, None, lists and dicts with string keys."""
        return "".join(_parts(value, ("," if compact else ", ", ":" if compact else ": "),
                              encode_basestring_ascii if ascii else encode_basestring))  # fmt: skip

    def _parts(value: Any, separators: tuple[str, str], string: Any) -> Any:
        if isinstance(value, str):
            yield string(value)
        elif value is None or isinstance(value, bool):
            yield {None: "null", True: "true", False: "false"}[value]
        elif isinstance(value, int):
            yield int.__repr__(value)
        elif isinstance(value, float):
            yield _float(value)
        elif isinstance(value, (list, tuple)):
            yield "["
            for i, item in enumerate(value):
                yield from ((separators[0],) if i else ())
                yield from _parts(item, separators, string)
            yield "]"
        elif isinstance(value, dict):
            yield "{"
            for i, (key, item) in enumerate(value.items()):
                if not isinstance(key, str):
                    raise TypeError("keys must be strings here")
                yield (separators[0] if i else "") + string(key) + separators[1]
                yield from _parts(item, separators, string)
            yield "}"
        else:
            raise TypeError(f"not JSON: {type(value).__name__}")

    def _float(value: float) -> str:
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
