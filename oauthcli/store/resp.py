"""The one read a cached `token` may need from Redis, without importing redis-py.

``import redis`` costs ≈ 100 ms (it imports asyncio and the cluster, sentinel and
observability modules), four times the whole budget of a cached `token` that must check the
shared store (SPEC §8: 4 × ``python -c pass``). That path needs one pipelined exchange —
``AUTH``, ``SELECT``, ``HMGET`` — so it is written here in RESP2 over a socket (TLS with the
same settings as redis-py gets). Everything else (leases, scripts, writes) goes through redis-py.
"""

from __future__ import annotations

import socket
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from oauthcli.store.redisurl import RedisAddress

MAX_BULK = 1 << 21  # a state document is a few KiB


class RespError(Exception):
    """An error reply from the server (its text, e.g. ``WRONGPASS …``, ``WRONGTYPE …``)."""


def call(address: RedisAddress, *commands: list[str]) -> list[Any]:
    """Send ``commands`` (after AUTH and SELECT as needed) in one pipeline; their replies.

    OSError (incl. timeouts) when the server cannot be reached; RespError for an error reply.
    """
    prelude: list[list[str]] = []
    if address.password is not None:
        prelude.append(["AUTH", *([address.username] if address.username else []),
                        address.password])  # fmt: skip
    if address.db:
        prelude.append(["SELECT", str(address.db)])
    with _connect(address) as sock:
        sock.sendall(b"".join(_encode(c) for c in [*prelude, *commands]))
        reader = sock.makefile("rb")
        replies = [_reply(reader) for _ in range(len(prelude) + len(commands))]
    for reply in replies:
        if isinstance(reply, RespError):
            raise reply
    return replies[len(prelude) :]


def _connect(address: RedisAddress) -> socket.socket:
    sock = socket.create_connection((address.host, address.port), timeout=address.timeout)
    if not address.tls:
        return sock
    try:
        return tls_context(address).wrap_socket(sock, server_hostname=address.host)
    except BaseException:
        sock.close()
        raise


def tls_context(address: RedisAddress) -> ssl.SSLContext:
    import ssl

    context = ssl.create_default_context(cafile=address.ca_certs)
    if address.certfile:
        context.load_cert_chain(address.certfile, address.keyfile)
    return context


def _encode(command: list[str]) -> bytes:
    parts = [f"*{len(command)}\r\n".encode()]
    for arg in command:
        data = arg.encode("utf-8")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _reply(reader: IO[bytes]) -> Any:
    line = reader.readline(MAX_BULK)
    if not line.endswith(b"\r\n"):
        raise OSError("the connection closed in the middle of a reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode("utf-8", "replace")
    if kind == b"-":
        return RespError(rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return _bulk(reader, int(rest))
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_reply(reader) for _ in range(count)]
    raise OSError(f"not a Redis reply: {line[:20]!r}")


def _bulk(reader: IO[bytes], size: int) -> bytes | None:
    if size < 0:
        return None
    if size > MAX_BULK:
        raise OSError("a reply larger than any stored state")
    data = reader.read(size + 2)
    if len(data) != size + 2:
        raise OSError("the connection closed in the middle of a reply")
    return data[:-2]
