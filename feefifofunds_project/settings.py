"""Django settings for FeeFiFoFunds. Everything that differs between machines comes from the environment."""

import os
from importlib.util import find_spec
from pathlib import Path

import dj_database_url

from feefifofunds.store.config import questdb_databases_from_env
from feefifofunds_project.secret import install_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("FEEFIFOFUNDS_STATE_DIR", BASE_DIR / ".state"))
STATE_DIR.mkdir(parents=True, exist_ok=True)

# No key is published in the repository: DJANGO_SECRET_KEY, or one generated once per install into the state
# folder (atomically, at the first import of these settings, so before any server worker starts).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or install_secret_key(STATE_DIR)
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
                 if h.strip()]

# `make serve` (gunicorn): where it listens. Loopback unless told otherwise.
SERVE_HOST = os.environ.get("FEEFIFOFUNDS_HOST", "127.0.0.1")
SERVE_PORT = int(os.environ.get("FEEFIFOFUNDS_PORT", "8000"))
SERVE_WORKERS = int(os.environ.get("FEEFIFOFUNDS_WORKERS", "2"))

# Served as plain HTTP on loopback by default, so the HTTPS-only deployment checks are silenced (README:
# "Serving"). Behind a TLS-terminating proxy set DJANGO_BEHIND_TLS_PROXY=1: HSTS, HTTPS redirect and secure
# cookies are switched on, and the proxy's X-Forwarded-Proto header is trusted.
BEHIND_TLS_PROXY = os.environ.get("DJANGO_BEHIND_TLS_PROXY", "0") == "1"
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True  # only a directive: the domain is preloaded once someone submits it
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
else:
    SILENCED_SYSTEM_CHECKS = ["security.W004", "security.W008", "security.W012", "security.W016"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "feefifofunds",
]

# Django Ninja's API docs page needs only its templates and static files. They are named here from the
# package's folder, found without importing it, rather than as an installed app: importing Ninja (and
# pydantic with it) at every start would add a few tenths of a second to each management command. The web
# worker imports it with the API, whose docs page renders Ninja's template itself (web/api.py).
NINJA_DIR = Path(find_spec("ninja").origin).parent

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "feefifofunds.web.errors.JsonApiErrorsMiddleware",
    "feefifofunds.web.errors.StoreBindingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "feefifofunds_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

WSGI_APPLICATION = "feefifofunds_project.wsgi.application"

# The catalog: PostgreSQL in production and tests, a SQLite file when nothing is configured.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{STATE_DIR / 'catalog.sqlite3'}",
        conn_max_age=0,
    )
}

# The price store: QuestDB aliases (see feefifofunds/store/config.py for the variables).
QUESTDB_DATABASES = questdb_databases_from_env(os.environ)
# The alias the QuestDB migrations (0003, 0004) run against.
QUESTDB_MIGRATION_ALIAS = os.environ.get("QUESTDB_MIGRATION_ALIAS", "questdb")

# Kraken archive ingestion: where files are found, and where they go once QuestDB acknowledged them.
KRAKEN_DATA_DIR = Path(os.environ.get("KRAKEN_DATA_DIR", BASE_DIR / "data"))
# None means "beside the data directory": <data-dir>/../ingested/ohlcv. A file that fails stays where it is.
KRAKEN_INGESTED_DIR = os.environ.get("KRAKEN_INGESTED_DIR") or None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Static files are served by the application itself (WhiteNoise): `collectstatic` copies them into
# STATIC_ROOT with content-hashed names and compressed twins, so they can be cached forever.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or STATE_DIR / "static")
STATICFILES_DIRS = [NINJA_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Coverage and gap counts per series, shared by every server worker and keyed by the store's write
# counter (feefifofunds/store/coverage.py), so a cron job's writes are seen by all of them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(STATE_DIR / "cache"),
        "TIMEOUT": 7 * 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Kraken REST API (gap backfills). No key needed for the public endpoints.
KRAKEN_API_URL = os.environ.get("KRAKEN_API_URL", "https://api.kraken.com")
KRAKEN_API_RATE_PER_SECOND = float(os.environ.get("KRAKEN_API_RATE_PER_SECOND", "1"))
KRAKEN_API_TIMEOUT_SECONDS = float(os.environ.get("KRAKEN_API_TIMEOUT_SECONDS", "30"))
KRAKEN_API_MAX_ATTEMPTS = int(os.environ.get("KRAKEN_API_MAX_ATTEMPTS", "5"))
KRAKEN_API_BACKOFF_SECONDS = float(os.environ.get("KRAKEN_API_BACKOFF_SECONDS", "1"))
KRAKEN_API_BACKOFF_MAX_SECONDS = float(os.environ.get("KRAKEN_API_BACKOFF_MAX_SECONDS", "60"))

# Massive.com and Finnhub (load_prices / backfill_prices). Keys only from the environment, never logged.
MASSIVE_API_KEY = os.environ.get("MASSIVE_API_KEY", "")
FINNHUB_API_KEY = os.environ.get("FINNHUB_API_KEY", "")
MASSIVE_API_URL = os.environ.get("MASSIVE_API_URL", "https://api.massive.com")
FINNHUB_API_URL = os.environ.get("FINNHUB_API_URL", "https://finnhub.io/api/v1")
MASSIVE_REQUESTS_PER_MINUTE = float(os.environ.get("MASSIVE_REQUESTS_PER_MINUTE", "5"))
FINNHUB_REQUESTS_PER_MINUTE = float(os.environ.get("FINNHUB_REQUESTS_PER_MINUTE", "60"))
API_RETRY_ATTEMPTS = int(os.environ.get("API_RETRY_ATTEMPTS", "5"))
API_RETRY_BACKOFF_SECONDS = float(os.environ.get("API_RETRY_BACKOFF_SECONDS", "1.0"))
API_TIMEOUT_SECONDS = float(os.environ.get("API_TIMEOUT_SECONDS", "30"))
