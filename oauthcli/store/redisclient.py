"""redis-py, imported only here and only when a command needs more than the fast read.

One client per store: no retries inside redis-py (``Redis(host=…)`` would retry 10 times,
≈ 4 s, before reporting a refused connection); the store retries the steps that are safe to
repeat (the compare-and-swap script recognises its own earlier write), for a bounded time.
Every failure becomes one of ours: unreachable or failing → TransientError (exit 5) naming
the store without its password; refused credentials or permissions → ConfigError (exit 3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from oauthcli.errors import ConfigError, OAuthCliError, TransientError
from oauthcli.store import redislease
from oauthcli.store.codec import CorruptEntry

if TYPE_CHECKING:
    from oauthcli.store.redisurl import RedisAddress

log = logging.getLogger("oauthcli.store")
T = TypeVar("T")
_SCRIPTS = {"release": redislease.RELEASE, "extend": redislease.EXTEND, "cas": redislease.CAS,
            "set_aside": redislease.SET_ASIDE}  # fmt: skip
_CONFIG_ERRORS = ("WRONGPASS", "NOAUTH", "NOPERM", "invalid password", "invalid username")


class _Scripts:
    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return lambda keys, args: self._client.script(name, keys, args)


class Client:
    def __init__(self, address: RedisAddress) -> None:
        self.address = address
        self._redis: Any = None
        self._scripts: dict[str, Any] = {}
        self.scripts = _Scripts(self)
        self._durability: str | None = None  # "waitaof", "wait", "none" once known
        self._replicas = 0

    @property
    def redis(self) -> Any:
        if self._redis is None:
            self._redis = self._connect()
        return self._redis

    def _connect(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        a = self.address
        tls: dict[str, Any] = {}
        if a.tls:
            tls = {"ssl": True, "ssl_ca_certs": a.ca_certs, "ssl_certfile": a.certfile,
                   "ssl_keyfile": a.keyfile, "ssl_cert_reqs": "required",
                   "ssl_check_hostname": True}  # fmt: skip
        return redis.Redis(
            host=a.host, port=a.port, db=a.db, username=a.username, password=a.password,
            socket_timeout=a.timeout, socket_connect_timeout=a.timeout,
            retry=Retry(NoBackoff(), 0), health_check_interval=0, protocol=2, **tls,
        )  # fmt: skip

    def call(self, fn: Callable[[Any], T], retry: float = 0) -> T:
        """``fn(redis)``; connection failures retried for ``retry`` seconds, then reported."""
        import redis

        deadline = time.monotonic() + retry
        delay = 0.05
        while True:
            try:
                return fn(self.redis)
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                if isinstance(exc, redis.AuthenticationError) or time.monotonic() >= deadline:
                    raise self.failure(exc, str(exc)) from None
                log.debug("store %s: %s; retrying", self.address.describe(), exc)
            except redis.RedisError as exc:
                if str(exc).startswith("WRONGTYPE"):
                    raise CorruptEntry("not a hash") from None
                raise self.failure(exc, str(exc)) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def failure(self, exc: Exception, text: str) -> OAuthCliError:
        shown = self.address.describe()
        text = self.address.scrub(text) or type(exc).__name__
        if (
            any(marker in text for marker in _CONFIG_ERRORS)
            or "Authentication" in type(exc).__name__
        ):
            return ConfigError(f"the token store {shown} refused this client: {text}",
                               hint="check the user and password in the store URL")  # fmt: skip
        if "Connection" in type(exc).__name__ or "Timeout" in type(exc).__name__:
            return self.address.unreachable(text)
        return TransientError(f"the token store {shown} failed: {text}")

    def script(self, name: str, keys: list[str], args: list[Any], retry: float = 0) -> Any:
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(_SCRIPTS[name])
        script = self._scripts[name]
        return self.call(lambda r: script(keys=keys, args=args, client=r), retry=retry)

    def wait_durable(self) -> None:
        """After a write: wait for the AOF fsync (and replicas) where the server can say so."""
        if self._durability is None:
            self._durability = self._probe_durability()
        try:
            if self._durability == "waitaof":
                local, _ = self.call(
                    lambda r: r.execute_command("WAITAOF", 1, self._replicas, 2000)
                )
                if int(local) < 1:
                    log.warning("the token store %s did not confirm the write on disk",
                                self.address.describe())  # fmt: skip
            elif self._durability == "wait" and self._replicas:
                self.call(lambda r: r.execute_command("WAIT", self._replicas, 2000))
        except OAuthCliError as exc:
            log.warning("could not confirm the durability of the write: %s", exc.message)

    def _probe_durability(self) -> str:
        try:
            info = self.call(
                lambda r: r.info("persistence") | r.info("replication") | r.info("server")
            )
        except OAuthCliError:
            return "none"
        self._replicas = int(info.get("connected_slaves", 0) or 0)
        if not int(info.get("aof_enabled", 0) or 0):
            log.warning("the token store %s does not persist writes (appendonly no): a restart "
                        "can lose a rotated refresh token; set appendonly yes and appendfsync "
                        "always", self.address.describe())  # fmt: skip
            return "wait"
        version = tuple(
            int(p) for p in str(info.get("redis_version", "0")).split(".")[:2] if p.isdigit()
        )
        return "waitaof" if version >= (7, 2) else "wait"
