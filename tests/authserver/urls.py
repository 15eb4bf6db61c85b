"""URLs: DOT's endpoints under /o/ and a protected resource at /api/hello."""

from django.urls import include, path

from tests.authserver.views import health, hello

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/hello", hello, name="hello"),
    path("health", health, name="health"),
]
