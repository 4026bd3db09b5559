"""
WSGI config for async_views project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import logging
import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

from products_db.config import ConfigError
from products_db.logs import client_faults_at_info, startup_failed

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "async_views.settings")

try:
    application = get_wsgi_application()
    client_faults_at_info()  # gunicorn's line for a request it cannot parse: INFO, not WARNING (products_db/logs.py)
except (ImproperlyConfigured, ConfigError) as error:
    # As in asgi.py: one line, exit code 3.
    startup_failed(logging.getLogger(__name__), error)
