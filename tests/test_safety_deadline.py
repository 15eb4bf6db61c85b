"""SPEC §13: a token request has an overall deadline; `timeout` bounds the whole exchange.

A server that trickles its answer one byte at a time (each read well inside the per-read
timeout) must still be cut off at `timeout`, releasing the profile's lock, and the request is
not retried (the server may have processed it). Asserted by what the server could send, not by
wall-clock time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import assert_clean_failure, run


class Trickler:
    """Accepts connections; answers 200 with a JSON token, one byte every ``pause`` seconds."""

    def __init__(self, *, headers_slow: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.headers_slow = headers_slow
        self.connections = 0
        self.sent_all = False
        self.cut_off = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/token"

    def _serve(self) -> None:
        body = b'{"access_token": "' + b"t" * 400 + b'", "expires_in": 3600}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        answer = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.recv(65536)
            quick = 0 if self.headers_slow else len(answer) - len(body)
            try:
                conn.sendall(answer[:quick])
                for i in range(quick, len(answer)):
                    conn.send(answer[i : i + 1])
                    time.sleep(0.1)
                self.sent_all = True
            except OSError:
                self.cut_off.set()
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["headers", "body"])
def trickler(request: pytest.FixtureRequest) -> Iterator[Trickler]:
    server = Trickler(headers_slow=request.param == "headers")
    yield server
    server.close()


@pytest.mark.slow
def test_a_trickling_server_is_cut_off_at_the_timeout(profiles_file: Any, trickler: Trickler) -> None:
    profiles_file({"p": {"token_url": trickler.url, "timeout": 1, "retries": 2}})
    result = run("refresh", "p")
    assert_clean_failure(result, 5, "timed out after 1s waiting for 127.0.0.1")
    assert "rotated" in result.stderr  # the hint: the server may have processed it
    assert trickler.cut_off.wait(10) and not trickler.sent_all
    assert trickler.connections == 1  # never retried
    assert run("token", "p", "--min-valid", "0").code == 5  # the lock was released: it tries again
