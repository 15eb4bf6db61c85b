"""`oauthcli login PROFILE [--device] [--no-browser] [--timeout S]`: obtain the first grant.

Thin: it gives the login (oauthcli.login.run) the person's side — where instructions are
written, how a browser is opened, the terminal to paste into — and reports the outcome. Nothing
goes to stdout: `login` prints no token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator

from oauthcli.token import Token
from oauthcli.worldtype import World

log = logging.getLogger("oauthcli")
# what webbrowser falls back to without a display: they would take over this very terminal
TEXT_BROWSERS = frozenset({"www-browser", "links", "elinks", "lynx", "w3m"})


def login(
    world: World, profile: str, device: bool = False, no_browser: bool = False,
    timeout: float | None = None,
) -> None:  # fmt: skip
    """Sign in interactively (browser with PKCE, or a device code) and store the tokens."""
    from oauthcli.login.context import LoginUI
    from oauthcli.login.run import login as sign_in
    from oauthcli.login.run import timeout_seconds

    seconds = timeout_seconds(timeout)  # a usage error before the profile is even read
    ui = LoginUI(
        instruct=_instructions(world),
        note=world.output.note,
        open_url=None if no_browser else _browser(world),
        paste=world.stdin if no_browser and _is_terminal(world) else None,
    )
    token = sign_in(world, world.profile(profile), ui, device=device, timeout=seconds)
    world.output.note(done(profile, token, world.clock()))
    if not token.refresh_token:
        log.warning(
            "the provider issued no refresh token: `oauthcli token %s` works until the access "
            "token expires; for one that lasts, check the profile's scope (e.g. offline_access) "
            "and login.params (e.g. access_type: offline)", profile,
        )  # fmt: skip


def done(profile: str, token: Token, now: float) -> str:
    left = token.expires_in(now)
    valid = f"; the access token is valid for {_duration(left)}" if left is not None else ""
    return f"Logged in: profile {profile!r}, tokens stored{valid}."


def _duration(seconds: int) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.0f} h"
    return f"{round(seconds / 60)} min" if seconds >= 120 else f"{max(seconds, 0)} s"


def _instructions(world: World) -> Callable[[str], None]:
    """Instructions are shown even with --quiet, and not through the secrets registry: it holds
    every resolved reference, the client id and the provider's host among them, and the URL
    must arrive whole. Nothing secret is ever handed to it (the login builds these texts)."""
    from oauthcli.safetext import printable_lines

    def instruct(text: str) -> None:
        world.stderr.write(printable_lines(text) + "\n")
        world.stderr.flush()

    return instruct


def _browser(world: World) -> Callable[[str], None]:
    """Open the URL with Python's webbrowser ($BROWSER honoured) on a thread of its own: some
    browser commands only return when the browser closes, and the listener must be waiting."""

    def run(url: str) -> None:
        import webbrowser

        if not _graphical(world):
            world.output.note("No graphical browser here: open the URL above on a machine "
                              "that has one (see --no-browser, or --device).")  # fmt: skip
            return
        with _stdout_to_stderr(world):
            try:
                opened = webbrowser.open(url)
            except Exception:  # webbrowser.Error, OSError …: a browser that cannot start
                opened = False
        if not opened:
            world.output.note("No browser could be opened: open the URL above yourself "
                              "(on another machine: --no-browser, or --device).")  # fmt: skip

    def open_url(url: str) -> None:
        threading.Thread(target=run, args=(url,), name="oauthcli-browser", daemon=True).start()

    return open_url


def _graphical(world: World) -> bool:
    """$BROWSER, when set, is the person's choice; else webbrowser's default, unless that is a
    text browser (over SSH it would draw over this terminal while the listener waits)."""
    import webbrowser

    if world.environ.get("BROWSER"):
        return True
    try:
        controller = webbrowser.get()
    except webbrowser.Error:
        return False
    return getattr(controller, "name", None) not in TEXT_BROWSERS


@contextlib.contextmanager
def _stdout_to_stderr(world: World) -> Iterator[None]:
    """A browser command inherits our descriptors, and some print to stdout ("Opening in
    existing browser session."): point descriptor 1 at stderr meanwhile. `login` itself writes
    nothing to stdout, so no output of ours is moved."""
    try:
        real = world.stdout.fileno() == 1 and world.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        yield
        return
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _is_terminal(world: World) -> bool:
    try:
        return world.stdin.isatty()
    except (AttributeError, ValueError):
        return False
