"""Settings for the async_views project, read from the environment (never commit a production secret)."""

import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from products_db.config import Settings, connect_params, database_url, positive_setting
from products_db.logs import LOG_CONFIG
from products_db.rules import MAX_BODY_BYTES

BASE_DIR = Path(__file__).resolve().parent.parent

# DEBUG is off unless asked for: DJANGO_DEBUG=1.
DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("set SECRET_KEY (or DJANGO_DEBUG=1 for a development-only default)")
    SECRET_KEY = "development-only-not-secret"  # only ever used with DEBUG on

# Comma-separated host names this site answers to; loopback by default.
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]

# No admin, auth or sessions: these views need none of them, and they would
# need Django's own tables in the shared products database.
INSTALLED_APPS = ["async_api"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # What a view raises becomes an answer here: a 400, 404, 413 or 503 (async_api/errors.py).
    "async_api.errors.ErrorAnswers",
    # No CsrfViewMiddleware: nothing here authenticates with cookies, so there is
    # no session for a cross-site request to ride on.
]

# Deployed behind a proxy that ends TLS and speaks plain HTTP to gunicorn.
# `manage.py check --deploy` is clean with these; each silenced check says why.
# The proxy says in X-Forwarded-Proto whether its client came over HTTPS: trusting it makes
# request.is_secure() and absolute URLs right. Safe only if the proxy sets that header on
# every request (nginx: proxy_set_header X-Forwarded-Proto $scheme) and nobody can reach
# gunicorn around the proxy (it binds 127.0.0.1 unless told otherwise).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # W003, no CsrfViewMiddleware: no cookie or session authenticates anything here (see MIDDLEWARE).
    "security.W003",
    # W004, SECURE_HSTS_SECONDS: Strict-Transport-Security is a promise about the whole domain,
    # made by the proxy that holds its certificate, not by one app behind it.
    "security.W004",
    # W008, SECURE_SSL_REDIRECT: the proxy redirects http:// to https://. Django would also
    # redirect requests that rightly skip the proxy, such as an orchestrator's /readyz probes.
    "security.W008",
]

ROOT_URLCONF = "async_views.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

WSGI_APPLICATION = "async_views.wsgi.application"
ASGI_APPLICATION = "async_views.asgi.application"

# The shared products database, from the one place every app reads it. Every
# parameter of DATABASE_URL counts: Django's five named fields, and the rest
# (sslmode, application_name, options, ...) in OPTIONS, handed to connect() as they are.
_db = connect_params(database_url())
_settings = Settings.from_env()
DB_POOL_SIZE = _settings.pool_size
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": _db.pop("host", ""),
        "PORT": _db.pop("port", ""),
        "USER": _db.pop("user", ""),
        "PASSWORD": _db.pop("password", ""),
        "NAME": _db.pop("dbname", ""),
        "OPTIONS": {
            # Postgres cancels a statement that runs longer (DB_STATEMENT_TIMEOUT); the URL's own options win.
            "options": f"-c statement_timeout={_settings.statement_timeout_ms}",
            # A connect with no answer fails after 10 s, a connection gone silent soon after statement_timeout.
            **_settings.libpq_time_limits(),
            **_db,
            # Django's own pool (5.1+, psycopg 3): a request borrows a connection
            # for its queries and hands it back when it ends, instead of opening
            # a new one per request. Like the other apps' pools it holds at most
            # DB_POOL_SIZE connections per process, opened at start; a request
            # that finds them all busy waits up to DB_ACQUIRE_TIMEOUT seconds for
            # one, then gets a 503 (never an error from Postgres' max_connections).
            "pool": {"min_size": DB_POOL_SIZE, "max_size": DB_POOL_SIZE, "timeout": _settings.acquire_timeout},
        },
        # The pool replaces persistent connections, which Django forbids beside it.
        "CONN_MAX_AGE": 0,
    }
}


def _not_a_503(record: logging.LogRecord) -> bool:
    # The error layer logs a 503 itself, as one line per outage (async_api/errors.py).
    return getattr(record, "status_code", None) != 503


# Errors go to stderr in the format every app shares (products_db/logs.py). Django's
# default would send a 500 to mail_admins (no ADMINS is set) and, with DEBUG off, keep
# it off the console: a 500 would leave no trace at all.
LOGGING = {
    **LOG_CONFIG,
    "filters": {
        **LOG_CONFIG["filters"],
        "not_a_503": {"()": "django.utils.log.CallbackFilter", "callback": _not_a_503},
    },
    "handlers": {**LOG_CONFIG["handlers"], "nowhere": {"class": "logging.NullHandler"}},
    "loggers": {
        **LOG_CONFIG["loggers"],
        # No handlers of its own (no console filtered by DEBUG, no mail): up to the root's stderr.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # django.request logs every answer from 400 up. Keep the 500s, with their tracebacks;
        # a 4xx is the client's mistake (the other apps log none), a warning per 404 is noise.
        "django.request": {"level": "ERROR", "filters": ["not_a_503"]},
        # A Host outside ALLOWED_HOSTS is a 400 too, which Django logs as an error with a
        # traceback; scanners send plenty. (With no handler at all, Python's last-resort
        # handler would print it: a handler that drops it is what silences it.)
        "django.security.DisallowedHost": {"handlers": ["nowhere"], "propagate": False},
    },
}

# A request body over this raises RequestDataTooBig when a view reads request.body;
# the answer is a 413 (async_api/errors.py), the limit every framework shares.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# Bounds of the async views' query parameters, from the environment.
ASYNC_API_MAX_REQUEST_NUM = positive_setting("ASYNC_API_MAX_REQUEST_NUM", 100, int)
ASYNC_API_MAX_NUM_CALLS = positive_setting("ASYNC_API_MAX_NUM_CALLS", 50, int)
ASYNC_API_MAX_SLEEP_TIME = positive_setting("ASYNC_API_MAX_SLEEP_TIME", 10)
# sleep_time x num_calls: thread-sensitive sleeps run one after another, and
# gunicorn's sync worker is killed after 30 s (its default timeout) without an answer.
ASYNC_API_MAX_TOTAL_SLEEP = positive_setting("ASYNC_API_MAX_TOTAL_SLEEP", 25)
# Seconds each outgoing request of the requests views may take. The requests of a batch
# run at once, so the whole batch takes no longer than this either.
ASYNC_API_REQUEST_TIMEOUT = positive_setting("ASYNC_API_REQUEST_TIMEOUT", 10)
# Bytes the requests views read of one answer, and of all the answers of a batch: past
# them a request stops reading and fails, so a target that streams gigabytes costs little.
ASYNC_API_MAX_RESPONSE_BYTES = positive_setting("ASYNC_API_MAX_RESPONSE_BYTES", 1024 * 1024, int)
ASYNC_API_MAX_BATCH_BYTES = positive_setting("ASYNC_API_MAX_BATCH_BYTES", 10 * 1024 * 1024, int)
# The requests views fetch the URL they are given. Empty: any host whose addresses are
# public (never loopback, private, link-local, ...: async_api/outbound.py). Otherwise the
# hosts they may call, comma-separated, whatever their addresses: 127.0.0.1 for the demo.
ASYNC_API_ALLOWED_TARGET_HOSTS = [
    h.strip().lower() for h in os.environ.get("ASYNC_API_ALLOWED_TARGET_HOSTS", "").split(",") if h.strip()
]
