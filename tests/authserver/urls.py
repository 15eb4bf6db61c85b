"""URLs: DOT's endpoints under /o/, a login page, discovery, a protected resource, test controls.

The issuer is ``<base_url>/o``: its OpenID discovery document is
``/o/.well-known/openid-configuration`` and its RFC 8414 metadata
``/.well-known/oauth-authorization-server/o`` (also at ``/o/.well-known/...``). Both list
``device_authorization_endpoint``. The bare ``/.well-known/oauth-authorization-server``
describes the issuer ``<base_url>`` (DOT derives the issuer from the URL).
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from tests.authserver import views

_metadata = views.OAuthServerMetadataView.as_view()

urlpatterns = [
    # Ours first: they shadow DOT's views of the same URL in the include below.
    path("o/token/", views.TokenView.as_view(), name="token"),
    path(
        "o/device-authorization/",
        views.DeviceAuthorizationView.as_view(),
        name="device-authorization",
    ),
    re_path(
        r"^o/\.well-known/openid-configuration/?$",
        views.ConnectDiscoveryInfoView.as_view(),
        name="openid-configuration",
    ),
    path("o/.well-known/oauth-authorization-server", _metadata),
    path(".well-known/oauth-authorization-server", _metadata),
    path(".well-known/oauth-authorization-server/<path:issuer_path>", _metadata),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("api/hello", views.hello, name="hello"),
    path("health", views.health, name="health"),
    path("_test/config", views.test_config, name="test-config"),
    path("_test/requests", views.test_requests, name="test-requests"),
    path("_test/redirect_uris", views.test_redirect_uris, name="test-redirect-uris"),
    path("_test/device", views.test_device, name="test-device"),
]
