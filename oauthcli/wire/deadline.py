"""An overall deadline per HTTP exchange (SPEC §13 "Every input is bounded").

requests' ``timeout`` bounds each socket read, so a server that sends one byte per second could
hold a request — and the profile's lock — open for ever. Here every connection a session uses is
registered with the exchange running on its thread (a thread-local of the session's adapter,
so nothing is shared between Worlds); at the deadline a timer shuts the sockets down, the
blocked read fails, and ``expired`` tells the caller why.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Deadline:
    def __init__(self) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: Any) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _register(conn: Any) -> None:
    watch = getattr(conn.deadlines, "current", None)
    if watch is not None:
        watch.watch(conn.sock)


class _Watched:
    """Mixed into urllib3's connections: each reports its socket to the deadline of the thread
    using it (``deadlines`` is the adapter's thread-local, set on the per-adapter subclass)."""

    deadlines: threading.local
    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _register(self)

    def request(self, *args: Any, **kwargs: Any) -> None:  # a kept-alive connection, reused
        _register(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections obey the deadline of the thread that uses them."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        self._deadlines = threading.local()  # this adapter's, not the module's
        own = {"deadlines": self._deadlines}
        http = type("_HTTPConnection", (_Watched, HTTPConnection), own)
        https = type("_HTTPSConnection", (_Watched, HTTPSConnection), own)
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("_HTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("_HTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[Deadline]:
        """Within the block, every connection this thread uses is cut at ``seconds``."""
        watch = Deadline()
        timer = threading.Timer(seconds, watch.expire)
        timer.daemon = True
        previous = getattr(self._deadlines, "current", None)
        self._deadlines.current = watch
        timer.start()
        try:
            yield watch
        finally:
            timer.cancel()
            self._deadlines.current = previous
