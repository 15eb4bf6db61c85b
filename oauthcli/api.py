"""The Python API (SPEC §11): access tokens for code, with the CLI's store, lock and caching.

    import oauthcli
    token = oauthcli.get_token("corp")                    # a str, refreshed when needed
    requests.get(url, auth=oauthcli.BearerAuth("corp"))   # or httpx.get(url, auth=...)

Every call reads the same profiles file and state as `oauthcli token` would (so a token one
process refreshed is reused by the others, and concurrent refreshes happen once, under the
per-profile lock). Failures raise :class:`oauthcli.OAuthCliError` subclasses whose
``exit_code`` is the CLI's (SPEC §4); their messages are redacted like the CLI's output.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncGenerator, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import requests.auth

from oauthcli.errors import OAuthCliError
from oauthcli.world import World
from oauthcli.worldtype import Options

if TYPE_CHECKING:
    import httpx
    from httpx import Auth as _HttpxAuth
else:
    try:  # httpx is optional: without it BearerAuth is a requests auth only
        from httpx import Auth as _HttpxAuth
    except ImportError:  # pragma: no cover - exercised only without httpx

        class _HttpxAuth:
            pass


PathLike = str | os.PathLike[str]


def get_token(
    profile: str, *, config: PathLike | None = None, store: str | None = None,
    min_valid: float | None = None, state_dir: PathLike | None = None, force: bool = False,
) -> str:  # fmt: skip
    """A valid access token for ``profile``: the stored one while it has more than
    ``min_valid`` seconds left (default: the profile's), else a refreshed one.

    ``config``, ``store`` and ``state_dir`` are the CLI's ``-c``, ``--store`` and
    ``--state-dir``; left out, the same environment variables and defaults apply.
    """
    return _Source(profile, config, store, state_dir, min_valid).token(force=force)


class _Source:
    """Where a profile's tokens come from; a fresh World per call keeps threads apart."""

    def __init__(self, profile: str, config: PathLike | None, store: str | None,
                 state_dir: PathLike | None, min_valid: float | None) -> None:  # fmt: skip
        self.profile = profile
        self.options = Options(
            config=None if config is None else os.fspath(config), store=store,
            state_dir=None if state_dir is None else os.fspath(state_dir), quiet=True,
        )  # fmt: skip
        self.min_valid = min_valid

    def token(self, *, force: bool = False, rejected: str | None = None) -> str:
        from oauthcli.grants import driver

        world = World(options=self.options)
        with _redacted(world):
            chosen = world.profile(self.profile)
            token = driver.obtain(world, chosen, min_valid=self.min_valid, force=force,
                                  rejected=rejected)  # fmt: skip
            return token.access_token

    def renewed(self, rejected: str) -> str:
        """After a 401 for ``rejected``: a token someone else refreshed meanwhile (looked for
        again under the lock, so that processes refused at once refresh once), else a
        refresh of our own (once)."""
        current = self.token()
        return current if current != rejected else self.token(force=True, rejected=rejected)


@contextmanager
def _redacted(world: World) -> Iterator[None]:
    """Errors leave with every secret this run saw masked, as the CLI prints them."""
    try:
        yield
    except OAuthCliError as exc:
        exc.message = world.secrets.redact_text(exc.message)
        exc.hint = world.secrets.redact_text(exc.hint) if exc.hint else exc.hint
        exc.args = (exc.message,)
        raise


class BearerAuth(requests.auth.AuthBase, _HttpxAuth):
    """``Authorization: Bearer <token>`` for ``requests`` (an ``AuthBase``) and ``httpx``
    (an ``Auth`` flow, sync and async). On a 401 it refreshes once and retries once."""

    requires_request_body = True  # httpx: a streamed body can be sent again after a 401

    def __init__(
        self, profile: str, *, config: PathLike | None = None, store: str | None = None,
        min_valid: float | None = None, state_dir: PathLike | None = None,
    ) -> None:  # fmt: skip
        self._source = _Source(profile, config, store, state_dir, min_valid)

    def __repr__(self) -> str:
        return f"BearerAuth({self._source.profile!r})"

    def token(self) -> str:
        return self._source.token()

    # --- requests ------------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        position = _tell(request.body)
        hook = functools.partial(self._retry, position=position)
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _retry(self, response: requests.Response, position: int | None = None,
               **kwargs: Any) -> requests.Response:  # fmt: skip
        if response.status_code != 401 or not _rewind(response.request.body, position):
            return response
        rejected = _bearer(response.request.headers.get("Authorization"))
        token = self._source.renewed(rejected)
        response.content  # noqa: B018 - read it, so the connection can be reused
        response.close()
        again = response.request.copy()
        again.headers["Authorization"] = f"Bearer {token}"
        connection: Any = response.connection  # the adapter: no hooks, so no second retry
        retried: requests.Response = connection.send(again, **kwargs)
        retried.history.append(response)
        retried.request = again
        return retried

    # --- httpx ---------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self._source.renewed(token)}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The token comes from files (and maybe a refresh): in a worker thread, so the event
        loop is never blocked."""
        import anyio.to_thread

        await request.aread()
        token = await anyio.to_thread.run_sync(self.token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await anyio.to_thread.run_sync(self._source.renewed, token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


def _bearer(header: str | None) -> str:
    return header[7:] if header and header[:7].lower() == "bearer " else ""


def _tell(body: Any) -> int | None:
    tell = getattr(body, "tell", None)
    try:
        return int(tell()) if tell else None
    except OSError:
        return None


def _rewind(body: Any, position: int | None) -> bool:
    """Can the request be sent again? A stream is rewound to where it started."""
    if body is None or isinstance(body, (bytes, str)):
        return True
    if position is None:
        return not hasattr(body, "read")  # a generator or an unseekable stream: no retry
    try:
        body.seek(position)
    except (AttributeError, OSError):
        return False
    return True
