"""Token stores: the TokenStore seam (base.py) and its backends, chosen by URL in one place.

The store is ``--store URL``, else ``$OAUTHCLI_STORE``, else ``store:`` in the profiles file,
else ``file`` (SPEC §10). A new backend is one module plus one line in ``BACKENDS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauthcli.errors import ConfigError

if TYPE_CHECKING:
    from oauthcli.store.base import TokenStore
    from oauthcli.world import World

BACKENDS = {  # URL scheme → module with ``open(url, world) -> TokenStore``
    "file": "oauthcli.store.file",
}


def open_store(world: World) -> TokenStore:
    url = world.options.store or world.environ.get("OAUTHCLI_STORE") or "file"
    scheme = url.split(":", 1)[0].lower()
    if scheme not in BACKENDS:
        raise ConfigError(
            f"unknown store {url.split('@')[-1]!r}; use one of: {', '.join(sorted(BACKENDS))}"
        )
    from importlib import import_module

    module = import_module(BACKENDS[scheme])
    store: TokenStore = module.open(url, world)
    return store
