"""`refresh` of many profiles over worker processes, one per CPU (SPEC §8).

``driver.refresh_many`` overlaps the waits for the token endpoint, but the CPU work of each
refresh (requests, the lock, the state read, the write probe, the atomic write with its fsyncs,
JSON) runs in one interpreter under one GIL: about 4.6 ms a profile, so 200 profiles cannot
finish within a second however short the wait. Here the parent forks one worker per CPU
(grants/worker.py), each running ``refresh_many`` with its threads on its share, and collects
the outcomes as they arrive: in input order, each failure in its place, ``on_done`` called in
the parent (the progress display), the workers' secrets added to the parent's registry and
their log lines written by the parent.

It forks only when that is safe and worth it: a POSIX fork, the process's own World (real
streams and environment: tests inject theirs) that has made neither its HTTP session nor its
store yet, no other thread, unique names, and at least ``MIN_SHARE`` profiles per worker.
Otherwise it is ``refresh_many`` in this process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from oauthcli.errors import ExitCode, OAuthCliError, TransientError

if TYPE_CHECKING:
    import selectors

    from oauthcli.grants.driver import Outcome
    from oauthcli.grants.worker import Frames
    from oauthcli.token import Token
    from oauthcli.worldtype import World

MIN_SHARE = 32  # profiles: fewer per worker save less than a fork and a session cost

OnDone = Callable[[str, "Token | OAuthCliError"], None]


class WorkerLost(TransientError):
    """A worker process died (killed, out of memory) before reporting this profile."""


class WorkerCrashed(OAuthCliError):
    """A bug in a worker process ended it before it reported this profile."""

    exit_code = ExitCode.INTERNAL


def refresh_all(rt: World, names: list[str], on_done: OnDone | None = None) -> list[Outcome]:
    """``driver.refresh_many``'s contract, the work spread over processes when worth it."""
    with start(rt, names) as workers:
        return workers.run(on_done)


def start(rt: World, names: list[str]) -> Fanout:
    """Fork the workers now (call it before starting any thread, such as a live display)."""
    count = worker_count(rt, names)
    return Fanout(rt, names, _fork_all(rt, names, count) if count > 1 else [])


def worker_count(rt: World, names: list[str]) -> int:
    if not hasattr(os, "fork") or len(set(names)) != len(names) or not _pristine(rt):
        return 1
    getaffinity = getattr(os, "sched_getaffinity", None)
    cpus = len(getaffinity(0)) if getaffinity else (os.cpu_count() or 1)
    return max(1, min(cpus, len(names) // MIN_SHARE))


def _pristine(rt: World) -> bool:
    """The process's own World, before its session, store or any other thread exists: a fork
    copies only the calling thread, and a pooled connection shared by two processes breaks."""
    import threading

    made = getattr(rt, "_made", None)  # world.World's lazily made parts
    return (isinstance(made, dict) and not {"session", "store"} & made.keys()
            and rt.stdout is sys.__stdout__ and rt.stderr is sys.__stderr__
            and rt.environ is os.environ and threading.active_count() == 1)  # fmt: skip


class _Worker:
    """The parent's view of one worker process."""

    def __init__(self, pid: int, fd: int, pending: dict[str, int]) -> None:
        from oauthcli.grants.worker import Frames

        self.pid = pid
        self.fd = fd  # the read end of its pipe; -1 once closed
        self.pending = pending  # name → index in the input, until its outcome arrives
        self.frames: Frames = Frames()
        self.crash: str | None = None  # what a bug that ended it said
        self.reaped = False
        self.status: int | None = None  # exit status, or minus the signal that killed it

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def reap(self) -> None:
        if self.reaped:
            return
        try:
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        except ChildProcessError:  # SIGCHLD ignored: the kernel reaped it, status unknown
            pass
        self.reaped = True

    def signal(self, number: int) -> None:
        if not self.reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)

    def lost(self) -> OAuthCliError:
        """The failure of a profile this worker never reported."""
        hint = "its refresh may or may not have reached the token endpoint; refresh it again"
        if self.crash:
            return WorkerCrashed(f"internal error in worker process {self.pid}: {self.crash}")
        return WorkerLost(f"worker process {self.pid} {_ended(self.status)} before reporting "
                          "this profile", hint)  # fmt: skip


def _ended(status: int | None) -> str:
    if status is None:
        return "ended"
    if status >= 0:
        return f"exited with status {status}"
    import signal

    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = "unknown"
    return f"was killed by signal {-status} ({name})"


class Fanout:
    """Forked workers (none: this process does the work), collected by ``run``; leaving the
    ``with`` block reaps every worker, interrupting them first when something went wrong."""

    def __init__(self, rt: World, names: list[str], workers: list[_Worker]) -> None:
        self._rt = rt
        self._names = names
        self._workers = workers
        self._results: dict[int, Token | OAuthCliError] = {}

    def __enter__(self) -> Fanout:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        self._end(interrupt=kind is not None)

    def run(self, on_done: OnDone | None = None) -> list[Outcome]:
        """Every outcome in input order; ``on_done`` called here as each one arrives."""
        from oauthcli.grants.driver import refresh_many

        if not self._workers:
            return refresh_many(self._rt, self._names, on_done)
        import selectors

        with selectors.DefaultSelector() as selector:
            for worker in self._workers:
                selector.register(worker.fd, selectors.EVENT_READ, worker)
            while selector.get_map():
                for key, _ in selector.select():
                    self._read(selector, key.data, on_done)
        left = [n for i, n in enumerate(self._names) if i not in self._results]
        if left:  # shares no worker could be forked for: here, now that forking is over
            index = {name: i for i, name in enumerate(self._names)}
            for name, result in refresh_many(self._rt, left, on_done):
                self._results[index[name]] = result
        return [(name, self._results[i]) for i, name in enumerate(self._names)]

    def _read(
        self, selector: selectors.BaseSelector, worker: _Worker, on_done: OnDone | None
    ) -> None:
        chunk = os.read(worker.fd, 1 << 16)
        if chunk:
            for kind, payload, secrets in worker.frames.feed(chunk):
                self._rt.secrets.add_all(secrets)  # before anything that may be printed
                if kind == "done":
                    self._record(worker, payload[0], payload[1], on_done)
                elif kind == "log":
                    logging.getLogger("oauthcli").log(payload[0], "%s", payload[1])
                elif kind == "crash":
                    worker.crash = payload
            return
        selector.unregister(worker.fd)  # end of file: the worker has ended
        worker.close()
        worker.reap()
        for name in list(worker.pending):
            self._record(worker, name, worker.lost(), on_done)

    def _record(
        self, worker: _Worker, name: str, result: Token | OAuthCliError, on_done: OnDone | None
    ) -> None:
        self._results[worker.pending.pop(name)] = result
        if on_done:
            on_done(name, result)

    def _end(self, interrupt: bool) -> None:
        """Reap every worker. After a failure here (Ctrl-C) each is interrupted once, and
        finishes the refreshes under way as one process would; a second Ctrl-C kills them."""
        import signal

        for worker in self._workers:
            worker.close()  # a worker writing to a closed pipe carries on without reporting
            if interrupt:
                worker.signal(signal.SIGINT)
        try:
            for worker in self._workers:
                worker.reap()
        except KeyboardInterrupt:
            for worker in self._workers:
                worker.signal(signal.SIGKILL)
            for worker in self._workers:
                worker.reap()
            raise


def _fork_all(rt: World, names: list[str], count: int) -> list[_Worker]:
    """One worker per share (every ``count``-th name); a failed fork leaves its share and the
    following ones to this process (``Fanout.run``)."""
    _preload()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # buffered output must not be copied into the workers
    index = {name: i for i, name in enumerate(names)}
    workers: list[_Worker] = []
    for number in range(count):
        share = names[number::count]
        try:
            pid, fd = _fork(rt, share, workers)
        except OSError as exc:
            logging.getLogger("oauthcli").debug("cannot start a worker process: %s", exc)
            break
        workers.append(_Worker(pid, fd, {name: index[name] for name in share}))
    return workers


def _fork(rt: World, share: list[str], siblings: list[_Worker]) -> tuple[int, int]:
    from oauthcli.grants.worker import serve

    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the worker: serve() ends this process, whatever happens
        try:
            os.close(read_fd)
            for sibling in siblings:
                sibling.close()
        finally:
            serve(rt, share, write_fd)
    os.close(write_fd)
    return pid, read_fd


def _preload() -> None:
    """What every worker imports, imported once here and shared (copy-on-write); none of it
    makes a thread, a session or a connection."""
    import concurrent.futures.thread  # noqa: F401
    import gc

    from oauthcli.wire import http  # noqa: F401  (requests, urllib3)

    gc.freeze()  # the workers' collections leave the parent's objects (and pages) alone
