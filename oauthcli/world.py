"""The injected world: everything a run touches outside its own code, in one object.

Built once by ``main(argv, world=None)`` (the console script, the Typer app, the Python API) and
passed down, the way httpie passes its ``Environment``: environment variables, streams, clock,
sleep, the secrets registry, the token store, the local cache, the HTTP session and the
profiles file. Tests build their own instead of swapping ``sys.stdout`` or module globals.
Everything expensive (store, session, configuration) is made on first use, so the cached
`token` path pays only for what it touches.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING

from oauthcli.redact import Secrets
from oauthcli.worldtype import Options

if TYPE_CHECKING:
    import requests

    from oauthcli.config.model import Config, Profile
    from oauthcli.config.refs import Resolver
    from oauthcli.render import Output
    from oauthcli.store.base import TokenStore
    from oauthcli.store.localcache import LocalCache
    from oauthcli.wire.github_oidc import GitHubIdTokens


class World:
    """Every argument defaults to the process's own (its environment, streams, clock)."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        secrets: Secrets | None = None,
        options: Options | None = None,
        argv: list[str] | None = None,  # the command line as given (exec needs `--`)
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.stdin: IO[str] = sys.stdin if stdin is None else stdin
        self.stdout: IO[str] = sys.stdout if stdout is None else stdout
        self.stderr: IO[str] = sys.stderr if stderr is None else stderr
        self.clock = clock
        self.sleep = sleep
        self.secrets = Secrets() if secrets is None else secrets
        self.options = Options() if options is None else options
        self.argv: list[str] = [] if argv is None else argv
        # connections kept per host: refresh_many raises it to its thread count before the
        # session is made (a full pool drops and reopens connections); one for everything else
        self.connections = 10
        self._made: dict[str, object] = {}

    def _once(self, name: str, make: Callable[[], object]) -> object:
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    @property
    def output(self) -> Output:
        from oauthcli.render import Output

        def make() -> Output:
            no_color = self.options.no_color or "NO_COLOR" in self.environ
            return Output(self.stdout, self.stderr, self.options.quiet, not no_color,
                          self.environ, self.secrets)  # fmt: skip

        return self._once("output", make)  # type: ignore[return-value]

    @property
    def state_dir(self) -> os.PathLike[str]:
        from oauthcli.store.file import default_dir

        return self._once(  # type: ignore[return-value]
            "state_dir", lambda: default_dir(self.options.state_dir, self.environ)
        )

    @property
    def cache(self) -> LocalCache:
        from oauthcli.store.localcache import LocalCache

        return self._once("cache", lambda: LocalCache(self.state_dir))  # type: ignore[return-value]

    @property
    def store(self) -> TokenStore:
        from oauthcli.store.opening import open_store

        return self._once("store", lambda: open_store(self))  # type: ignore[return-value]

    @property
    def config(self) -> Config:
        from oauthcli.config.cache import ParsedConfigCache
        from oauthcli.config.load import load

        def make() -> Config:
            cache = ParsedConfigCache(self.cache)
            return load(self.options.config, self.environ, stdin=self.stdin, cache=cache,
                        secrets=self.secrets)  # literal secrets in the file are secrets too

        return self._once("config", make)  # type: ignore[return-value]

    @property
    def session(self) -> requests.Session:
        from oauthcli.wire.http import new_session

        make = lambda: new_session(pool_size=self.connections)  # noqa: E731
        return self._once("session", make)  # type: ignore[return-value]

    @property
    def id_tokens(self) -> GitHubIdTokens:
        """The run's ``${github_oidc:}`` tokens: fetched once per audience, kept in memory."""
        from oauthcli.wire.github_oidc import GitHubIdTokens

        def make() -> GitHubIdTokens:
            return GitHubIdTokens(self.environ, self.secrets, lambda: self.session, self.clock,
                                  self.sleep)  # fmt: skip

        # setdefault, not _once: concurrent profiles (refresh_many) must share one cache
        found = self._made.get("id_tokens") or self._made.setdefault("id_tokens", make())
        return found  # type: ignore[return-value]

    def id_token(self, profile: str, audience: str, where: str) -> str:
        return self.id_tokens(profile, audience, where)

    def profile(self, name: str) -> Profile:
        return self.config.profile(name)

    def resolver(self, profile: Profile, refresh_token: str | None = None) -> Resolver:
        from oauthcli.config.refs import Resolver

        return Resolver(profile.name, self.environ, lambda: refresh_token, self.secrets,
                        clock=self.clock, id_token=self.id_token,
                        command_timeout=profile.timeout)  # fmt: skip
