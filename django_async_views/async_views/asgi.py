"""
ASGI config for async_views project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import logging
import os

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from products_db.asgi_guards import BodyDeadline, BodySizeLimit, HeaderLimit
from products_db.config import ConfigError
from products_db.http_limits import HeaderLimits
from products_db.logs import client_faults_at_info, startup_failed
from products_db.timeouts import body_timeout

from .request_signals import skip_request_started_receivers
from .reused_threads import ReusedThreadsASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "async_views.settings")

try:
    # What get_asgi_application() does, with a handler that reuses request threads.
    django.setup(set_prefix=False)
    client_faults_at_info()  # uvicorn's line for a request it cannot parse: INFO, not WARNING (products_db/logs.py)
    skip_request_started_receivers()  # a trip to a thread per request saved (request_signals.py)
    # As many request threads as the pool has connections: each runs one request's queries.
    django_application = ReusedThreadsASGIHandler(threads=settings.DB_POOL_SIZE)
    header_limits = HeaderLimits.from_env()  # MAX_REQUEST_HEADERS, MAX_HEADER_BYTES
    body_seconds = body_timeout()  # BODY_TIMEOUT
except (ImproperlyConfigured, ConfigError) as error:
    # No SECRET_KEY, a DATABASE_URL libpq cannot read: one line saying so, then
    # exit code 3, so gunicorn stops instead of booting worker after worker.
    startup_failed(logging.getLogger(__name__), error)

# The guards Starlette wears too (products_db/asgi_guards.py): refuse too many or too long header fields,
# then bodies over 1 MiB before Django reads them, and give up on a body that does not arrive within
# BODY_TIMEOUT seconds.
application = HeaderLimit(BodySizeLimit(BodyDeadline(django_application, body_seconds)), header_limits)
