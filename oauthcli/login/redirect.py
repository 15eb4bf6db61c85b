"""``login.redirect_uri``: a loopback ``http`` URI (RFC 8252 §7.3) and where to listen for it.

``http://127.0.0.1:0/callback`` (the default) means any free port on 127.0.0.1; a port written
out is used as written or not at all; ``localhost`` is served on both 127.0.0.1 and ::1, since
a browser may resolve it to either. Nothing else is accepted: the listener never binds beyond
loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from oauthcli.errors import ConfigError

DEFAULT_REDIRECT_URI = "http://127.0.0.1:0/callback"
FIELD = "login.redirect_uri"


@dataclass(frozen=True)
class RedirectTarget:
    host: str  # as written in the URI: 127.0.0.1, [::1], localhost
    port: int  # 0: any free port
    path: str
    port_written: bool  # False: the URI has no port (80), and is sent without one

    def addresses(self) -> list[tuple[socket.AddressFamily, str]]:
        """The loopback addresses to listen on, in order."""
        if self.host == "localhost":
            return [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
        address = ipaddress.ip_address(self.host.strip("[]"))
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return [(family, str(address))]

    def uri(self, port: int) -> str:
        """The redirect_uri to send, with the port actually bound."""
        netloc = f"{self.host}:{port}" if self.port_written else self.host
        return f"http://{netloc}{self.path}"

    def is_own_host(self, host_header: str, port: int) -> bool:
        """A Host header naming this listener (under any loopback name): a page elsewhere that
        rebinds its DNS name to 127.0.0.1 cannot reach the callback."""
        try:
            parts = urlsplit("//" + host_header.strip())
            name, given = parts.hostname, parts.port
        except ValueError:
            return False
        return name in ("127.0.0.1", "::1", "localhost") and (given or 80) == port


def parse_redirect(value: str | None, profile: str) -> RedirectTarget:
    """The listener target of ``login.redirect_uri`` (resolved), or a configuration error."""
    text = value or DEFAULT_REDIRECT_URI
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _error(profile, f"invalid URI: {exc}") from None
    if parts.scheme != "http":
        raise _error(profile, "must be an http:// loopback URI (RFC 8252 §7.3)")
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise _error(profile, "must not carry user information")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise _error(profile, "must not have a query or fragment")
    return RedirectTarget(_host(host, profile), 80 if port is None else port,
                          parts.path or "/", port is not None)  # fmt: skip


def _host(host: str, profile: str) -> str:
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise _error(profile, f"host {host or '(none)'!r} is not loopback: "
                              "use 127.0.0.1, [::1] or localhost")  # fmt: skip
    return f"[{address}]" if address.version == 6 else str(address)


def _error(profile: str, reason: str) -> ConfigError:
    return ConfigError(f"profile {profile!r}, field {FIELD}: {reason}",
                       hint=f"the default is {DEFAULT_REDIRECT_URI} (any free port)")  # fmt: skip
