"""The git credential helper protocol (git-credential(1), "INPUT/OUTPUT FORMAT").

git writes ``key=value`` lines to the helper's stdin, ending with a blank line or EOF; for
``get`` the helper answers ``username``, ``password`` and ``password_expiry_utc`` (git 2.41+;
older versions ignore it). A value may hold neither a newline nor a NUL: a token that does is
refused rather than let a token server inject attributes.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from oauthcli.errors import BadResponseError, ConfigError, UsageError
from oauthcli.token import Token

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.worldtype import World

MAX_INPUT = 64 * 1024  # git sends a few hundred bytes; anything this large is not git
DEFAULT_USERNAME = "oauth2"
_TRY_IT = "git writes them; try: printf 'host=example.com\\n\\n' | oauthcli git-credential P get"


def read_request(stream: IO[str]) -> dict[str, str]:
    """The attributes git sent (the last value of a repeated key), bounded in size."""
    attributes: dict[str, str] = {}
    budget = MAX_INPUT
    while True:
        line = stream.readline(budget + 1)
        budget -= len(line)
        if budget < 0:
            raise UsageError(f"git-credential: more than {MAX_INPUT // 1024} KiB on stdin",
                             hint="git sends a few key=value lines")  # fmt: skip
        line = line.rstrip("\r\n") if line.endswith("\n") else line
        if not line:
            return attributes
        key, eq, value = line.partition("=")
        if not eq or not key or "\0" in line:
            raise UsageError("git-credential: stdin is not key=value lines",
                             hint=_TRY_IT)  # fmt: skip
        attributes[key] = value


def username(world: World, profile: Profile) -> str:
    configured = (profile.git or {}).get("username", DEFAULT_USERNAME)
    if not isinstance(configured, str) or not configured:
        raise ConfigError(f"profile {profile.name!r}, field git.username: expected a string")
    value = world.resolver(profile).resolve(configured, "git.username")
    if not value or _unsafe(value):
        raise ConfigError(
            f"profile {profile.name!r}, field git.username: empty, or a newline or NUL in it"
        )
    return value


def answer(user: str, token: Token) -> str:
    """The lines of a `get` answer."""
    if _unsafe(token.access_token):
        raise BadResponseError(
            "the access token contains a newline or NUL, which git's credential protocol "
            "cannot carry",
            hint="use oauthcli token P -f json, which carries any value",
        )
    lines = [f"username={user}", f"password={token.access_token}"]
    if token.expires_at is not None:
        lines.append(f"password_expiry_utc={int(token.expires_at)}")
    return "\n".join(lines) + "\n"


def erase(world: World, profile: Profile, rejected: str | None) -> bool:
    """Drop the stored access token (git found it rejected), keeping the refresh token.

    Only when the stored token is the one git presents (``rejected``, when git says): a
    password that came from elsewhere says nothing about ours. True when something changed.
    """
    from oauthcli.grants.identity import read_state, state_name

    name = state_name(world, profile)  # the grant's key, as the driver keeps it
    with world.store.lock(name, profile.lock_timeout):
        state = read_state(world, profile, migrate=True)
        if state is None or not state.token.access_token:
            return False
        if rejected is not None and rejected != state.token.access_token:
            return False
        emptied = Token("", expires_at=0.0, obtained_at=world.clock())
        world.store.write(name, state._replace(token=emptied), expected=state.generation)
        return True


def _unsafe(value: str) -> bool:
    return "\n" in value or "\r" in value or "\0" in value
