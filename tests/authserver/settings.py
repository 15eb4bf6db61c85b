"""Django settings of the throw-away authorization server used by the tests.

Everything that varies per run comes from the environment set by ``serve.py``:
``AUTHSERVER_DB`` (path of the temporary SQLite file) and
``AUTHSERVER_ACCESS_TOKEN_TTL`` (seconds).
"""

import os

SECRET_KEY = "oauthcli-tests-authserver-not-a-secret"  # noqa: S105 - test only
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
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

OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Reading scope",
        "write": "Writing scope",
        "introspection": "Introspect tokens",
    },
    # A token request without `scope` gets "read write" (not introspection).
    "DEFAULT_SCOPES": ["read", "write"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("AUTHSERVER_ACCESS_TOKEN_TTL", "300")),
    "ROTATE_REFRESH_TOKEN": True,
    # A refresh token used a second time fails at once with 400 invalid_grant.
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": False,
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
