"""Django settings for FeeFiFoFunds. Everything that differs between machines comes from the environment."""

import os
from pathlib import Path

import dj_database_url

from feefifofunds.store.config import questdb_databases_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("FEEFIFOFUNDS_STATE_DIR", BASE_DIR / ".state"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "feefifofunds",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
        "DIRS": [],
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
if not os.environ.get("DATABASE_URL"):
    STATE_DIR.mkdir(parents=True, exist_ok=True)
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
STATIC_URL = "static/"

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
