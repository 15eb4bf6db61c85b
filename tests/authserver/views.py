"""The protected resource of the test authorization server."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core


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
