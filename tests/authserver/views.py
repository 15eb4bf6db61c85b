"""The views of the test authorization server.

- the protected resource ``/api/hello`` and ``/health``;
- DOT views adjusted for the login tests (device authorization, token, metadata);
- test-only control endpoints under ``/_test/`` (switches, request log, redirect URIs,
  device grants), used by ``AuthServer`` in ``plugin.py``.
"""

import json
from datetime import timedelta
from urllib.parse import urlencode

from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views
from oauth2_provider.oauth2_backends import get_oauthlib_core

from tests.authserver import state


@csrf_exempt
def hello(request):
    """200 ``{"hello": <username or client_id>, "scope": ...}`` with a valid Bearer token.

    Otherwise 401 with a ``WWW-Authenticate: Bearer`` challenge (RFC 6750). DOT's own
    ``ProtectedResourceView`` would answer a bare 403.
    """
    valid, oauthlib_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        challenge = 'Bearer realm="authserver"'
        if "HTTP_AUTHORIZATION" in request.META:
            challenge += ', error="invalid_token"'
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = challenge
        return response
    token = oauthlib_request.access_token
    who = token.user.get_username() if token.user else token.application.client_id
    return JsonResponse({"hello": who, "scope": token.scope})


def health(request):
    return JsonResponse({"ok": True})


# -- DOT views with what the login tests need -------------------------------------------

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


def _oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _device_model():
    from oauth2_provider.models import get_device_grant_model

    return get_device_grant_model()


class DeviceAuthorizationView(dot_views.DeviceAuthorizationView):
    """The RFC 8628 §3.1 endpoint. DOT 3.4.1's own ``post`` is a 500 with the installed
    oauthlib 4 (which echoes ``scope`` in the response: ``DeviceCodeResponse(**response)``
    raises TypeError), so this one validates with oauthlib as DOT does, then:

    - stores the DeviceGrant itself (scope as resolved by oauthlib);
    - answers ``verification_uri`` (``/o/device/``) and ``verification_uri_complete``
      (``/o/device/?user_code=...``) built from the request (DOT: fixed settings only);
    - ``interval`` and ``expires_in`` from the test switches when set (DOT cannot
      configure ``expires_in`` at all: always oauthlib's 1800 s).

    oauthlib wants ``client_id`` in the body even from a client that authenticates with
    HTTP Basic (400 invalid_request "Missing client_id parameter." otherwise).
    """

    def post(self, request, *args, **kwargs):
        headers, body, status = self.create_device_authorization_response(request)
        if status != 200:
            return JsonResponse(json.loads(body), status=status, headers=headers)
        client_id = request.POST["client_id"]  # oauthlib has insisted on it
        interval = state.get("device_interval")
        expires_in = state.get("device_expires_in")
        verification_uri = request.build_absolute_uri(reverse("oauth2_provider:device"))
        data = {
            "device_code": body["device_code"],
            "user_code": body["user_code"],
            "verification_uri": verification_uri,
            "verification_uri_complete": (
                f"{verification_uri}?{urlencode({'user_code': body['user_code']})}"
            ),
            "expires_in": int(expires_in if expires_in is not None else body["expires_in"]),
            "interval": int(interval if interval is not None else body.get("interval", 5)),
        }
        _device_model().objects.create(
            client_id=client_id,
            device_code=data["device_code"],
            user_code=data["user_code"],
            scope=body.get("scope", ""),
            interval=data["interval"],
            expires=timezone.now() + timedelta(seconds=data["expires_in"]),
        )
        response = JsonResponse(data, headers=headers)
        response["Cache-Control"] = "no-store"
        return response


class TokenView(dot_views.TokenView):
    """DOT's token endpoint; for device polls (RFC 8628 §3.4-3.5) it adds:

    - ``slow_down`` (400) for the next N polls when the test switch says so;
    - ``expired_token`` once ``expires_in`` has passed (DOT never checks the expiry on a
      poll: the code would stay ``authorization_pending`` forever);
    - ``invalid_grant`` (400) for an unknown or already redeemed device_code (DOT: 404
      ``device_not_found``), and one redemption only (DOT leaves an approved code usable).
    """

    def post(self, request, *args, **kwargs):
        if request.POST.get("grant_type") != DEVICE_GRANT_TYPE:
            return super().post(request, *args, **kwargs)
        if state.take_slow_down():
            return _oauth_error("slow_down", "polling too fast: add 5 seconds to the interval")
        device_code = request.POST.get("device_code")
        if not device_code:
            return _oauth_error("invalid_request", "missing device_code")
        grant = _device_model().objects.filter(device_code=device_code).first()
        if grant is None:
            return _oauth_error("invalid_grant", "unknown or already used device_code")
        grant.is_expired()  # marks it expired when past its deadline
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            grant.delete()
        return response


def _with_login_metadata(request, response):
    data = json.loads(response.content)
    data["device_authorization_endpoint"] = request.build_absolute_uri(
        reverse("oauth2_provider:device-authorization")
    )
    data.setdefault("authorization_response_iss_parameter_supported", False)
    grant_types = data.get("grant_types_supported")  # the OIDC document has none
    if grant_types is not None and DEVICE_GRANT_TYPE not in grant_types:
        grant_types.append(DEVICE_GRANT_TYPE)
    out = JsonResponse(data)
    out["Access-Control-Allow-Origin"] = "*"
    return out


class OAuthServerMetadataView(dot_views.OAuthServerMetadataView):
    """RFC 8414 metadata: DOT's, plus ``device_authorization_endpoint`` (DOT omits it)."""

    def get(self, request, *args, **kwargs):
        return _with_login_metadata(request, super().get(request, *args, **kwargs))


class ConnectDiscoveryInfoView(dot_views.ConnectDiscoveryInfoView):
    """OpenID discovery: DOT's, plus ``device_authorization_endpoint`` (DOT omits it)."""

    def get(self, request, *args, **kwargs):
        return _with_login_metadata(request, super().get(request, *args, **kwargs))


# -- test-only control endpoints (/_test/...) ------------------------------------------


def _json_body(request) -> dict:
    if not request.body:
        return {}
    body = json.loads(request.body)
    if not isinstance(body, dict):
        raise ValueError("a JSON object is expected")
    return body


def _apply_switches() -> None:
    from oauth2_provider.settings import oauth2_settings

    # DOT reads this gate on every authorization response and metadata request.
    oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS = bool(state.get("iss_parameter"))


@csrf_exempt
def test_config(request):
    """GET: the switches. POST a JSON object: set some (400 on an unknown name)."""
    if request.method == "POST":
        try:
            body = _json_body(request)
            if body.pop("reset", False):
                state.reset()
            switches = state.configure(**body)
        except (ValueError, KeyError) as exc:
            return JsonResponse({"error": f"bad switches: {exc}"}, status=400)
        _apply_switches()
        return JsonResponse(switches)
    return JsonResponse(state.switches())


def test_requests(request):
    """The request log after ``?since=SEQ`` (default 0), and the server's clocks now."""
    since = int(request.GET.get("since", "0"))
    return JsonResponse(
        {"requests": state.requests_since(since), "last_seq": state.last_seq(), "now": state.now()}
    )


@csrf_exempt
def test_redirect_uris(request):
    """POST ``{"client_id": ..., "add": [uri, ...]}`` or ``{"client_id": ..., "set": [...]}``;
    answers the client's redirect URIs after the change (GET ``?client_id=``: as they are)."""
    from oauth2_provider.models import get_application_model

    body = _json_body(request) if request.method == "POST" else {}
    client_id = body.get("client_id") or request.GET.get("client_id")
    app = get_application_model().objects.filter(client_id=client_id).first()
    if app is None:
        return JsonResponse({"error": f"no client {client_id!r}"}, status=404)
    uris = app.redirect_uris.split()
    if "set" in body:
        uris = list(body["set"])
    for uri in body.get("add", []):
        if uri not in uris:
            uris.append(uri)
    if request.method == "POST":
        app.redirect_uris = " ".join(uris)
        app.save(update_fields=["redirect_uris"])
    return JsonResponse({"client_id": client_id, "redirect_uris": uris})


def _device_info(grant) -> dict:
    return {
        "user_code": grant.user_code,
        "client_id": grant.client_id,
        "status": grant.status,
        "scope": grant.scope,
        "interval": grant.interval,
        "expires_at": grant.expires.timestamp(),
        "user": grant.user.get_username() if grant.user else None,
    }


@csrf_exempt
def test_device(request):
    """GET ``?user_code=``: that device grant. POST ``{"user_code": ..., "status":
    "authorized" | "denied" | "expired" | "authorization-pending"}``: set it directly
    (``authorized`` binds it to the test user; ``expired`` also moves its deadline to now)."""
    from django.contrib.auth import get_user_model

    body = _json_body(request) if request.method == "POST" else {}
    user_code = body.get("user_code") or request.GET.get("user_code")
    grant = _device_model().objects.filter(user_code=user_code).first()
    if grant is None:
        return JsonResponse({"error": f"no device grant with user_code {user_code!r}"}, status=404)
    if request.method == "POST":
        status = body.get("status")
        if status not in {"authorized", "denied", "expired", "authorization-pending"}:
            return JsonResponse({"error": f"bad status {status!r}"}, status=400)
        grant.status = status
        if status == "authorized" and grant.user is None:
            grant.user = get_user_model().objects.get(username=body.get("username", "alice"))
        if status == "expired":
            grant.expires = timezone.now()
        grant.save()
    return JsonResponse(_device_info(grant))
