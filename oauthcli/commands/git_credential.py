"""`oauthcli git-credential PROFILE get|store|erase`: a git credential helper (SPEC §11).

git runs it before every fetch and push, so it is answered on the fast path (entry.py) and,
with a stored token, never imports requests. Configure it with
``git config credential.https://HOST.helper '!oauthcli git-credential PROFILE'``.
"""

from __future__ import annotations

from oauthcli.errors import UsageError
from oauthcli.export import git
from oauthcli.grants import driver
from oauthcli.options import GIT_ACTIONS
from oauthcli.worldtype import World


def git_credential(world: World, profile: str, action: str) -> None:
    """Git credential helper: `get` answers the access token as the password."""
    if action not in GIT_ACTIONS:
        raise UsageError(f"unknown git-credential action {action!r}; git sends get, store or erase")
    request = git.read_request(world.stdin)  # read first: git's write must never block
    chosen = world.profile(profile)
    if action == "get":
        user = git.username(world, chosen)
        token = driver.obtain(world, chosen)
        world.output.out(git.answer(user, token), [token.access_token])
    elif action == "erase" and git.erase(world, chosen, request.get("password")):
        world.output.note(f"{profile}: dropped the stored access token (git says it was rejected)")
    # store: nothing to do, oauthcli keeps its own tokens
