"""One worker process of `refresh` over several processes (grants/fanout.py): its side of the pipe.

A worker is a fork of the parent made before the parent had any thread, HTTP session or store
connection. It runs ``driver.refresh_many`` on its share of the profiles (its own session and
store are made lazily, after the fork) and writes to its pipe, as each profile completes, one
frame: ``(kind, payload, secrets)``, where ``secrets`` are the values its registry learned since
the previous frame, so the parent can redact whatever it prints. Kinds: ``done`` (name,
Token or OAuthCliError), ``log`` (level, message: the parent's handler writes it, so lines of
several processes never interleave), ``crash`` (a bug's one-line description) and ``end``.
Frames are pickled: both ends are the same program, one a fork of the other.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from typing import TYPE_CHECKING, Any, NoReturn

from oauthcli.errors import ExitCode, OAuthCliError

if TYPE_CHECKING:
    from oauthcli.redact import Secrets
    from oauthcli.token import Token
    from oauthcli.worldtype import World

_LENGTH = 4  # bytes of the big-endian length before each pickled frame


def serve(rt: World, share: list[str], fd: int) -> NoReturn:
    """Refresh ``share``, report on ``fd``, then end this process with ``os._exit``.

    The one place in the core that ends a process: a forked worker must neither return into
    the parent's code nor run the parent's atexit handlers, finalizers or buffered flushes.
    """
    code = int(ExitCode.INTERNAL)
    sender = Sender(fd, rt.secrets)
    try:
        _interrupt_once()
        _forward_logs(sender)
        from oauthcli.grants.driver import refresh_many

        refresh_many(rt, share, sender.done)
        sender.send("end", None)
        code = int(ExitCode.OK)
    except KeyboardInterrupt:
        code = int(ExitCode.INTERRUPTED)
    except BaseException as exc:  # a bug: the parent reports it against this share
        logging.getLogger("oauthcli").debug("worker traceback", exc_info=True)
        sender.send("crash", f"{type(exc).__name__}: {exc}")
    finally:
        os._exit(code)


class Sender:
    """Writes whole frames to the pipe, one thread at a time; a closed pipe (the parent was
    interrupted) is ignored, so the refreshes under way still finish and store their tokens."""

    def __init__(self, fd: int, secrets: Secrets) -> None:
        self._fd = fd
        self._secrets = secrets
        self._sent: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._broken = False

    def done(self, name: str, result: Token | OAuthCliError) -> None:
        self.send("done", (name, result))

    def send(self, kind: str, payload: Any) -> None:
        with self._lock:
            known = self._secrets.values()
            frame = encode((kind, payload, sorted(known - self._sent)))
            self._sent = known
            if self._broken:
                return
            try:
                _write_all(self._fd, frame)
            except OSError:
                self._broken = True


def encode(message: tuple[str, Any, list[str]]) -> bytes:
    try:
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        kind, payload, secrets = message
        name, error = payload  # only a failure can hold something unpicklable
        data = pickle.dumps((kind, (name, stand_in(error)), secrets), pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_LENGTH, "big") + data


def stand_in(error: BaseException) -> OAuthCliError:
    """A failure that cannot be pickled, as a plain one with the same text, hint and exit code."""
    message = getattr(error, "message", str(error))
    copy = OAuthCliError(message, getattr(error, "hint", None))
    copy.exit_code = getattr(error, "exit_code", ExitCode.INTERNAL)
    return copy


class Frames:
    """The parent's reader of one pipe: bytes in, whole messages out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[str, Any, list[str]]]:
        self._buffer += chunk
        messages = []
        while len(self._buffer) >= _LENGTH:
            size = int.from_bytes(self._buffer[:_LENGTH], "big")
            if len(self._buffer) < _LENGTH + size:
                break
            data = bytes(self._buffer[_LENGTH : _LENGTH + size])
            del self._buffer[: _LENGTH + size]
            messages.append(pickle.loads(data))  # noqa: S301 - our own fork wrote it
        return messages


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _interrupt_once() -> None:
    """Ctrl-C reaches the worker from the terminal and from the parent: the first one stops it
    as it would stop `refresh` in one process (the refreshes under way finish and are stored),
    the next ones are ignored."""
    import signal

    def interrupt(number: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)


class _Forward(logging.Handler):
    def __init__(self, sender: Sender) -> None:
        super().__init__()
        self._sender = sender

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                import traceback

                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self._sender.send("log", (record.levelno, text))
        except Exception:
            self.handleError(record)


def _forward_logs(sender: Sender) -> None:
    """The worker's log records go to the parent, which filters, redacts and writes them."""
    logging.getLogger("oauthcli").handlers[:] = [_Forward(sender)]
