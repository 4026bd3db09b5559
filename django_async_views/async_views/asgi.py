"""
ASGI config for async_views project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import logging
import os

from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

from products_db.asgi_guards import BodyDeadline, BodySizeLimit, HeaderLimit
from products_db.config import ConfigError
from products_db.http_limits import HeaderLimits
from products_db.logs import client_faults_at_info, startup_failed
from products_db.timeouts import body_timeout

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "async_views.settings")

try:
    django_application = get_asgi_application()
    client_faults_at_info()  # uvicorn's line for a request it cannot parse: INFO, not WARNING (products_db/logs.py)
    header_limits = HeaderLimits.from_env()  # MAX_REQUEST_HEADERS, MAX_HEADER_BYTES
    body_seconds = body_timeout()  # BODY_TIMEOUT
except (ImproperlyConfigured, ConfigError) as error:
    # No SECRET_KEY, a DATABASE_URL libpq cannot read: one line saying so, then
    # exit code 3, so gunicorn stops instead of booting worker after worker.
    startup_failed(logging.getLogger(__name__), error)

# uvicorn bounds neither header fields nor bodies, so the guards Starlette wears too (products_db/asgi_guards.py)
# answer before Django reads a request: 431 past the header bounds, 413 for a body over 1 MiB, 408 for a body
# that has not arrived within BODY_TIMEOUT seconds.
application = HeaderLimit(BodySizeLimit(BodyDeadline(django_application, body_seconds)), header_limits)
