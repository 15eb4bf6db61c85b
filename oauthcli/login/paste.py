"""Paste-back: the redirected URL typed on stdin completes a browser login (SPEC §9).

For a machine whose browser is elsewhere (SSH): the browser's redirect to 127.0.0.1 fails
there, but its address bar holds the whole redirect, which the person pastes here. A thread
reads the lines (with ``os.read`` where there is a descriptor, so no lock of ``sys.stdin`` is
held at exit) and wakes the listener's selector through a socket pair; the listener takes the
query, and the state is checked exactly as for a redirect that arrived over HTTP.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from typing import IO
from urllib.parse import urlsplit

MAX_LINE = 16 * 1024


class Pastes:
    def __init__(self, stream: IO[str], path: str, say: Callable[[str], None]) -> None:
        self.path = path
        self.say = say
        self.wake, self._signal = socket.socketpair()
        self.wake.setblocking(False)
        self._lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=self._read, args=(stream,), name="oauthcli-paste",
                                  daemon=True)  # fmt: skip
        reader.start()

    def close(self) -> None:
        self.wake.close()
        self._signal.close()

    def _read(self, stream: IO[str]) -> None:
        for line in lines_of(stream):
            self._lines.put(line)
            with contextlib.suppress(OSError):
                self._signal.send(b"\0")

    def query(self) -> str | None:
        """The query of the first pasted redirect URL waiting, if any."""
        with contextlib.suppress(OSError):
            while self.wake.recv(512):
                pass
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return None
            query = self._redirect_query(line.strip())
            if query is not None:
                return query

    def _redirect_query(self, text: str) -> str | None:
        if not text:
            return None
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        redirect = parts is not None and parts.scheme in ("http", "https") and bool(parts.query)
        if not redirect or parts is None or parts.path != self.path:
            self.say(f"That is not the redirected address: paste the whole URL from the "
                     f"browser's address bar (its path is {self.path}, with ?code=… or "
                     "?error=…).")  # fmt: skip
            return None
        return parts.query


def lines_of(stream: IO[str]) -> Iterator[str]:
    """The lines of ``stream`` as they arrive; an overlong line is dropped."""
    try:
        fd: int | None = stream.fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        fd = None
    if fd is None:
        yield from iter(stream.readline, "")
        return
    pending = b""
    while chunk := _read(fd):
        pending += chunk
        while b"\n" in pending:
            line, _, pending = pending.partition(b"\n")
            yield line.decode("utf-8", "replace")
        if len(pending) > MAX_LINE:
            pending = b""
    if pending:
        yield pending.decode("utf-8", "replace")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""
