"""Opening the token store a run uses: chosen by URL in one place (SPEC §10).

The store is ``--store URL``, else ``$OAUTHCLI_STORE``, else ``store:`` in the profiles file
(a URL, or ``{url, key}``), else ``file``. The key that encrypts stored state is ``store.key`` of
the profiles file, else ``$OAUTHCLI_STORE_KEY``; references work in both. A new backend is one
module with ``open(url, world, codec)`` plus one line in ``BACKENDS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oauthcli.errors import ConfigError

if TYPE_CHECKING:
    from oauthcli.store.base import TokenStore
    from oauthcli.store.codec import Codec
    from oauthcli.worldtype import World

BACKENDS = {  # URL scheme → module with ``open(url, world, codec) -> TokenStore``
    "file": "oauthcli.store.file",
    "redis": "oauthcli.store.redis",
    "rediss": "oauthcli.store.redis",
}


def open_store(world: World) -> TokenStore:
    url, key = store_setting(world)
    scheme = url.split(":", 1)[0].lower()
    if scheme not in BACKENDS:
        shown = url.split("@")[-1] if "://" in url else url
        raise ConfigError(
            f"unknown store {shown!r}; use one of: file, redis://…, rediss://…",
        )
    from importlib import import_module

    module = import_module(BACKENDS[scheme])
    store: TokenStore = module.open(url, world, _codec(world, key))
    return store


def store_setting(world: World) -> tuple[str, str | None]:
    """(url, key): the URL from the first place that names one; the key from the file or env."""
    url = world.options.store or world.environ.get("OAUTHCLI_STORE")
    configured: Any = None
    if not url or world.environ.get("OAUTHCLI_STORE_KEY") is None:
        configured = _configured(world)
    raw_key: Any = None
    if isinstance(configured, dict):
        raw_key = configured.get("key")
        configured = configured.get("url")
    url = url or configured or "file"
    if not isinstance(url, str) or (raw_key is not None and not isinstance(raw_key, str)):
        raise ConfigError("store: url and key must be strings")
    resolver = _resolver(world)
    url = resolver.resolve(url, "store.url") if "$" in url else url
    if raw_key is None:
        return url, world.environ.get("OAUTHCLI_STORE_KEY") or None
    return url, resolver.resolve(raw_key, "store.key") or None


def _configured(world: World) -> Any:
    """``store:`` of the profiles file, when one is there (no profiles file: no setting)."""
    try:
        config = world.config
    except ConfigError:
        if world.options.config or world.environ.get("OAUTHCLI_CONFIG"):
            raise
        return None  # no profiles file yet: the command reports that itself when it needs one
    return getattr(config, "store", None)


def _resolver(world: World) -> Any:
    from oauthcli.config.refs import Resolver

    return Resolver("(store)", world.environ, None, world.secrets)


def _codec(world: World, key: str | None) -> Codec:
    from oauthcli.store.codec import Codec

    if not key:
        return Codec()
    world.secrets.add(key)
    from oauthcli.store.crypto import Sealer

    adopt = world.environ.get("OAUTHCLI_STORE_ADOPT_PLAINTEXT") == "1"
    return Codec(Sealer(key), adopt_plaintext=adopt)
