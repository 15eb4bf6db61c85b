"""The loopback redirect listener of a browser login (RFC 8252 §7.3, SPEC §9).

Bound before the browser opens, on loopback only; a written port that is busy is an error,
never a quiet move to another port (the provider would not accept that redirect_uri anyway).
One selector serves every listening socket, every connection and the paste-back wake-up, so a
browser's idle pre-connections or a ``/favicon.ico`` never hold up the callback. Exactly one
GET on the exact path, with this listener's Host, is accepted; anything else is answered (404,
405, 400) and the wait goes on. The accepted connection is answered once the login is decided.
"""

from __future__ import annotations

import contextlib
import errno
import html
import logging
import os
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oauthcli.errors import ConfigError
from oauthcli.login.redirect import FIELD, RedirectTarget

if TYPE_CHECKING:
    from oauthcli.login.paste import Pastes

log = logging.getLogger("oauthcli.login")

MAX_REQUEST = 16 * 1024  # a request head larger than this is not a browser's redirect
MAX_CONNECTIONS = 32
_NO_IPV6 = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT}
_LISTEN, _PASTE = "listen", "paste"


@dataclass
class Callback:
    """The redirect that came back: its query string, and the browser waiting for a page."""

    query: str = field(repr=False)
    source: str  # "browser" or "paste"
    sock: socket.socket | None = field(default=None, repr=False)

    def answer(self, ok: bool, detail: str) -> None:
        """Tell the browser how the login ended (once; nothing for a pasted URL)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            respond(sock, 200 if ok else 400, page(ok, detail), "text/html; charset=utf-8")


class Listener:
    def __init__(self, target: RedirectTarget, profile: str) -> None:
        self.target = target
        self.sockets, self.port = bind(target, profile)
        self.redirect_uri = target.uri(self.port)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def wait(self, remaining: Callable[[], float], pastes: Pastes | None = None) -> Callback | None:
        """The callback, or None once ``remaining()`` reaches 0. Stops listening either way."""
        conns: dict[socket.socket, bytearray] = {}
        with selectors.DefaultSelector() as selector:
            for sock in self.sockets:
                selector.register(sock, selectors.EVENT_READ, _LISTEN)
            if pastes is not None:
                selector.register(pastes.wake, selectors.EVENT_READ, _PASTE)
            try:
                while (left := remaining()) > 0:
                    for key, _ in selector.select(min(left, 1.0)):
                        found = self._event(key, selector, conns, pastes)
                        if found is not None:
                            return found
                return None
            finally:
                for conn in conns:
                    conn.close()
                self.close()

    def _event(
        self,
        key: selectors.SelectorKey,
        selector: selectors.BaseSelector,
        conns: dict[socket.socket, bytearray],
        pastes: Pastes | None,
    ) -> Callback | None:
        sock = key.fileobj
        assert isinstance(sock, socket.socket)
        if key.data == _LISTEN:
            _accept(sock, selector, conns)
            return None
        if key.data == _PASTE:
            assert pastes is not None
            query = pastes.query()
            return None if query is None else Callback(query, "paste")
        data = _receive(sock, selector, conns)
        return None if data is None else self._handle(sock, data)

    def _handle(self, sock: socket.socket, data: bytes) -> Callback | None:
        method, target, host = parse_head(data)
        path = urlsplit(target).path if target else None
        if target is None:
            status = 400
        elif not self.target.is_own_host(host or "", self.port):
            status = 421  # a page elsewhere, its name rebound to 127.0.0.1
        elif path != self.target.path:
            status = 404  # /favicon.ico and the like: keep waiting
        elif method != "GET":
            status = 405
        else:
            return Callback(urlsplit(target).query, "browser", sock)
        log.debug("listener: %s %s answered %d", method, path, status)
        respond(sock, status, HTTPStatus(status).phrase.encode() + b"\n", "text/plain")
        return None


def _accept(listening: socket.socket, selector: selectors.BaseSelector,
            conns: dict[socket.socket, bytearray]) -> None:  # fmt: skip
    try:
        conn, _ = listening.accept()
    except OSError:
        return
    if len(conns) >= MAX_CONNECTIONS:  # drop the oldest idle one
        oldest = next(iter(conns))
        selector.unregister(oldest)
        conns.pop(oldest).clear()
        oldest.close()
    conn.setblocking(False)
    selector.register(conn, selectors.EVENT_READ, None)
    conns[conn] = bytearray()


def _receive(sock: socket.socket, selector: selectors.BaseSelector,
             conns: dict[socket.socket, bytearray]) -> bytes | None:  # fmt: skip
    """The request head once complete (the connection leaves the selector), else None."""
    try:
        chunk = sock.recv(4096)
    except BlockingIOError:
        return None
    except OSError:
        chunk = b""
    buffer = conns[sock]
    buffer += chunk
    complete = b"\r\n\r\n" in buffer
    if chunk and not complete and len(buffer) <= MAX_REQUEST:
        return None
    selector.unregister(sock)
    del conns[sock]
    if not complete:
        if chunk:
            respond(sock, 431, b"Request Header Fields Too Large\n", "text/plain")
        sock.close()
        return None
    return bytes(buffer)


def parse_head(data: bytes) -> tuple[str | None, str | None, str | None]:
    """Method, request target and Host of an HTTP/1.x request head (None where malformed)."""
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    words = lines[0].split(" ")
    if len(words) != 3 or not words[2].startswith("HTTP/1."):
        return None, None, None
    hosts = [v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
             if k.strip().lower() == "host"]  # fmt: skip
    return words[0], words[1], hosts[0] if len(hosts) == 1 else None


def respond(sock: socket.socket, status: int, body: bytes, content_type: str) -> None:
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\nReferrer-Policy: no-referrer\r\n"
        "Content-Security-Policy: default-src 'none'\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        sock.setblocking(True)
        sock.settimeout(2.0)
        sock.sendall(head.encode("ascii") + body)
        sock.shutdown(socket.SHUT_WR)
    sock.close()


def page(ok: bool, detail: str) -> bytes:
    """The short page the browser shows; ``detail`` (which may quote the server) is escaped."""
    title = "Signed in" if ok else "Sign-in failed"
    text = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>oauthcli: {title}</title>'
        f"</head><body><h1>{title}</h1><p>{html.escape(detail)}</p>"
        "<p>You can close this window and return to the terminal.</p></body></html>\n"
    )
    return text.encode("utf-8")


# --- binding ---------------------------------------------------------------------------------


class _Retry(Exception):
    """Port 0 on two addresses: the port chosen on the first is taken on the second."""


def bind(target: RedirectTarget, profile: str) -> tuple[list[socket.socket], int]:
    """Listening sockets on every address of ``target``, all on one port; and that port."""
    for _ in range(1 if target.port else 8):
        try:
            return _bind_all(target, profile)
        except _Retry:
            continue
    raise ConfigError(f"profile {profile!r}, field {FIELD}: no port is free on both "
                      "127.0.0.1 and ::1", hint="write a fixed port into the URI")  # fmt: skip


def _bind_all(target: RedirectTarget, profile: str) -> tuple[list[socket.socket], int]:
    sockets: list[socket.socket] = []
    port = target.port
    try:
        for family, address in target.addresses():
            try:
                sock = _listen(family, address, port)
            except OSError as exc:
                if sockets and exc.errno in _NO_IPV6:  # localhost on a host without IPv6
                    log.debug("login: no IPv6 loopback (%s); listening on IPv4 only", exc)
                    continue
                if sockets and not target.port and exc.errno == errno.EADDRINUSE:
                    raise _Retry from None
                raise _bind_error(exc, address, port, profile) from None
            sockets.append(sock)
            port = sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets, port


def _listen(family: socket.AddressFamily, address: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if os.name == "nt":  # Windows' SO_REUSEADDR would let us share a port in use
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined,unused-ignore]
        else:  # a port left in TIME_WAIT by the last login is free; one listened on is not
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(16)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_error(exc: OSError, address: str, port: int, profile: str) -> ConfigError:
    where = f"profile {profile!r}, field {FIELD}"
    shown = f"[{address}]" if ":" in address else address
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"{where}: port {port} on {shown} is busy (another program listens there)",
            hint="stop that program and try again; the port must be the one registered with "
            "the provider, so oauthcli never moves to another",
        )
    if exc.errno == errno.EACCES:
        return ConfigError(f"{where}: not allowed to listen on port {port} on {shown}",
                           hint="ports below 1024 need privileges: register and use a port "
                           "above 1023, or :0 for any free port")  # fmt: skip
    return ConfigError(f"{where}: cannot listen on {shown} port {port}: "
                       f"{exc.strerror or type(exc).__name__}")  # fmt: skip
