"""Django settings of the throw-away authorization server used by the tests.

Everything that varies per run comes from the environment set by ``serve.py``:
``AUTHSERVER_DB`` (path of the temporary SQLite file) and
``AUTHSERVER_ACCESS_TOKEN_TTL`` (seconds), ``AUTHSERVER_RSA_KEY`` (PEM of the OIDC
signing key; a new one is generated when unset).
"""

import os
from pathlib import Path

SECRET_KEY = "oauthcli-tests-authserver-not-a-secret"  # noqa: S105 - test only
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
MIDDLEWARE = [
    "tests.authserver.middleware.RequestLogMiddleware",  # first: arrival times
    "django.middleware.common.CommonMiddleware",
    # The login and consent pages: a session (in a signed cookie, no table), CSRF tokens
    # in the forms (a non-JS client reads them from the HTML), the logged-in user.
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(Path(__file__).resolve().parent / "templates")],
        "APP_DIRS": True,  # DOT's authorize and device pages
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
STATIC_URL = "/static/"  # DOT's base template links a stylesheet (never served)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/health"
ROOT_URLCONF = "tests.authserver.urls"
APPEND_SLASH = False
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("AUTHSERVER_DB", ":memory:"),
        "OPTIONS": {
            # The server is threaded: wait for the write lock instead of failing with
            # "database is locked", and take it up front so two writers never deadlock.
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# The database is always new: create the tables straight from the models
# (`migrate --run-syncdb`, ~0.1 s) instead of replaying ~40 migrations (~2.5 s).
MIGRATION_MODULES = {app.rsplit(".", 1)[-1]: None for app in INSTALLED_APPS}

# Speed: creating the user and checking its password must not cost PBKDF2 rounds.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _rsa_key() -> str:
    pem = os.environ.get("AUTHSERVER_RSA_KEY")
    if pem:
        return pem
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Reading scope",
        "write": "Writing scope",
        "introspection": "Introspect tokens",
        "openid": "OpenID Connect",
        "offline_access": "Refresh tokens",
    },
    # A token request without `scope` gets "read write" (not introspection).
    "DEFAULT_SCOPES": ["read", "write"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("AUTHSERVER_ACCESS_TOKEN_TTL", "300")),
    "ROTATE_REFRESH_TOKEN": True,
    # A refresh token used a second time fails at once with 400 invalid_grant.
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # Authorization code: PKCE always, S256 only ("plain" is rejected).
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    # RFC 8252 §7.3: a registered http://127.0.0.1/..., http://[::1]/... (and, with this,
    # http://localhost/...) redirect URI matches a request with any port.
    "ALLOW_LOCALHOST_LOOPBACK": True,
    # OpenID Connect: discovery, nonce, ID tokens signed RS256.
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _rsa_key(),
    # validate_device_code, which DOT 3.4.1 lacks (see validators.py).
    "OAUTH2_VALIDATOR_CLASS": "tests.authserver.validators.Validator",
    # RFC 8628: the switch `device_interval` overrides it per test (views.py).
    "DEVICE_FLOW_INTERVAL": 5,
    # `COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS` (RFC 9207 `iss`) is a runtime switch:
    # views.test_config sets it (off by default, as in DOT).
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # One line per request on stderr (the fixture keeps it in a file for failures).
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "django": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        # RFC 9700 deprecation nags for the password grant, on every request.
        "oauth2_provider": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
