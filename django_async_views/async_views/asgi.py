"""
ASGI config for async_views project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from async_api.body_limit import BodySizeLimit
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "async_views.settings")

# Refuse bodies over 1 MiB before Django reads them (see async_api/body_limit.py).
application = BodySizeLimit(get_asgi_application())
