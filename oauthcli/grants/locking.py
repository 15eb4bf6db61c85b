"""The grant's lock, taken the way every grant takes it, and a word to a waiting person.

A process that waits on another's refresh says so on stderr after a second, when stderr is a
terminal (SPEC §13): a person watching a silent prompt should know why it is silent. Scripts
and CI logs (no terminal) see nothing; `--quiet` silences it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from oauthcli.grants.identity import state_name

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.store.base import Lease
    from oauthcli.worldtype import World

NOTICE_AFTER = 1.0  # seconds


@contextlib.contextmanager
def locked(world: World, profile: Profile) -> Iterator[Lease]:
    """The per-grant lock (``profile.lock_timeout``), with the notice if the wait is long."""
    import threading

    output = world.output
    notice: threading.Timer | None = None
    if not output.quiet and output.stderr_is_terminal():
        text = f"waiting for another oauthcli process to refresh {profile.name!r}…"
        notice = threading.Timer(NOTICE_AFTER, output.note, (text,))
        notice.daemon = True
        notice.start()
    try:
        with world.store.lock(state_name(world, profile), profile.lock_timeout) as lease:
            if notice is not None:
                notice.cancel()
            yield lease
    finally:
        if notice is not None:
            notice.cancel()
