"""Request log middleware: every request, stamped on arrival, kept in memory for the tests.

Read through ``GET /_test/requests`` (``AuthServer.requests()`` in the plugin). Each entry::

    {"seq": 7, "t": 12345.6 (time.monotonic() on arrival), "wall": 1700000000.1,
     "method": "POST", "path": "/o/token/", "query": {...}, "form": {...} (secrets masked),
     "client_id": "..." (form or Basic header), "auth": "basic" | "bearer" | "none",
     "grant_type": "...", "device_code": "...", "status": 400, "error": "slow_down",
     "location": "..." (redirects only)}
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from urllib.parse import parse_qsl, unquote_plus

from tests.authserver import state

_NOT_LOGGED = ("/_test/", "/health")


def _basic_client_id(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote_plus(decoded.partition(":")[0])


def _form(request) -> dict[str, str]:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if request.method != "POST" or content_type != "application/x-www-form-urlencoded":
        return {}
    # request.body is cached, so DOT can still read it (and request.POST) afterwards.
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


def _error_of(response) -> str | None:
    if response.status_code < 400 or "json" not in response.get("Content-Type", ""):
        return None
    try:
        return json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return None


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        arrival = {"t": time.monotonic(), "wall": time.time()}
        if request.path.startswith(_NOT_LOGGED):
            return self.get_response(request)
        form = _form(request)
        header = request.META.get("HTTP_AUTHORIZATION", "")
        basic_id = _basic_client_id(header) if header else None
        entry = state.log_request(
            {
                **arrival,
                "method": request.method,
                "path": request.path,
                "query": dict(request.GET.items()),
                "form": form,
                "client_id": basic_id or form.get("client_id") or request.GET.get("client_id"),
                "auth": header.partition(" ")[0].lower() if header else "none",
                "grant_type": form.get("grant_type"),
                "device_code": form.get("device_code"),
            }
        )
        response = self.get_response(request)
        state.complete_request(
            entry,
            status=response.status_code,
            error=_error_of(response),
            location=response.get("Location"),
        )
        return response
