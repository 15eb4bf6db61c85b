"""The World as the rest of the package sees it: a Protocol (and the global Options).

``world.py`` builds every part of the world (store, profiles file, HTTP session, …) and so
imports those modules; they in turn only need to *name* the World they are given. Naming it
here, in a module that imports none of them, keeps the import graph free of cycles — not even
a type-level one. ``world.World`` is the implementation; tests and entry points construct it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import requests

    from oauthcli.config.model import Config, Profile
    from oauthcli.config.refs import Resolver
    from oauthcli.redact import Secrets
    from oauthcli.render import Output
    from oauthcli.store.base import TokenStore
    from oauthcli.store.localcache import LocalCache
    from oauthcli.wire.github_oidc import GitHubIdTokens


class Options:
    """The global options of one run (SPEC §3)."""

    def __init__(
        self, config: str | None = None, state_dir: str | None = None, store: str | None = None,
        verbose: bool = False, quiet: bool = False, no_color: bool = False,
    ) -> None:  # fmt: skip
        self.config = config
        self.state_dir = state_dir
        self.store = store
        self.verbose = verbose
        self.quiet = quiet
        self.no_color = no_color

    def __repr__(self) -> str:
        return f"Options({vars(self)!r})"


class World(Protocol):
    environ: Mapping[str, str]
    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]
    secrets: Secrets
    options: Options
    argv: list[str]
    connections: int  # pooled per host by the session, once made

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def sleep(self) -> Callable[[float], None]: ...

    @property
    def output(self) -> Output: ...

    @property
    def state_dir(self) -> os.PathLike[str]: ...

    @property
    def cache(self) -> LocalCache: ...

    @property
    def store(self) -> TokenStore: ...

    @property
    def config(self) -> Config: ...

    @property
    def session(self) -> requests.Session: ...

    @property
    def id_tokens(self) -> GitHubIdTokens: ...

    def id_token(self, profile: str, audience: str, where: str) -> str: ...

    def profile(self, name: str) -> Profile: ...

    def resolver(self, profile: Profile, refresh_token: str | None = None) -> Resolver: ...
