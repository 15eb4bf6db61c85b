"""In-memory, test-only state of the authorization server process: switches and a request log.

The server is one process with many threads: everything here is guarded by one lock.
Tests reach it through the ``/_test/...`` endpoints (``views.py``), wrapped by the
``AuthServer`` methods of ``plugin.py``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

# Form fields never copied into the log as they are.
_MASKED_FIELDS = ("client_secret", "password")
LOG_LIMIT = 20000

_DEFAULTS: dict[str, Any] = {
    "slow_down": 0,  # answer slow_down to this many next device polls
    "device_interval": None,  # None = DOT's DEVICE_FLOW_INTERVAL (5 s)
    "device_expires_in": None,  # None = oauthlib's default (1800 s)
    "iss_parameter": False,  # RFC 9207 `iss` in authorization responses and metadata
}

_lock = threading.Lock()
_switches: dict[str, Any] = dict(_DEFAULTS)
_log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
_seq = 0


def switches() -> dict[str, Any]:
    with _lock:
        return dict(_switches)


def get(name: str) -> Any:
    with _lock:
        return _switches[name]


def configure(**changes: Any) -> dict[str, Any]:
    """Set some switches; unknown names raise KeyError. Returns all switches."""
    unknown = set(changes) - set(_DEFAULTS)
    if unknown:
        raise KeyError(", ".join(sorted(unknown)))
    with _lock:
        _switches.update(changes)
        return dict(_switches)


def reset() -> dict[str, Any]:
    """Switches back to their defaults (the request log is kept: it is append-only)."""
    with _lock:
        _switches.clear()
        _switches.update(_DEFAULTS)
        return dict(_switches)


def take_slow_down() -> bool:
    """True (and one fewer left) when the current device poll must answer slow_down."""
    with _lock:
        if _switches["slow_down"] > 0:
            _switches["slow_down"] -= 1
            return True
        return False


def _masked(form: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k in _MASKED_FIELDS else v) for k, v in form.items()}


def log_request(entry: dict[str, Any]) -> dict[str, Any]:
    """Append one request to the log; returns the stored entry (to complete it later)."""
    global _seq
    entry = dict(entry)
    entry["form"] = _masked(entry.get("form", {}))
    with _lock:
        _seq += 1
        entry["seq"] = _seq
        _log.append(entry)
    return entry


def complete_request(entry: dict[str, Any], **fields: Any) -> None:
    """Add what is known after the response (status, error) to a logged entry."""
    with _lock:
        entry.update(fields)


def requests_since(seq: int = 0) -> list[dict[str, Any]]:
    with _lock:
        return [dict(e) for e in _log if e["seq"] > seq]


def last_seq() -> int:
    with _lock:
        return _seq


def now() -> dict[str, float]:
    """Both clocks of this process: ``t`` (monotonic) and ``wall`` (epoch seconds)."""
    return {"t": time.monotonic(), "wall": time.time()}
