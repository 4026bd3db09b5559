"""The settings of the tuned entry point (asgi_tuned.py): settings.py, Django's three middleware on the loop."""

from .settings import *  # noqa: F403  (everything else as in settings.py)
from .settings import MIDDLEWARE, SILENCED_SYSTEM_CHECKS

# Django's SecurityMiddleware, CommonMiddleware and XFrameOptionsMiddleware, each swapped for a
# subclass whose hooks run on the event loop instead of in the request's thread (middleware.py).
ON_THE_LOOP = {
    "django.middleware.security.SecurityMiddleware": "async_views.middleware.Security",
    "django.middleware.common.CommonMiddleware": "async_views.middleware.Common",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "async_views.middleware.XFrameOptions",
}
MIDDLEWARE = [ON_THE_LOOP.get(path, path) for path in MIDDLEWARE]

SILENCED_SYSTEM_CHECKS = [
    *SILENCED_SYSTEM_CHECKS,
    # W001 and W002 look for Django's own class paths in MIDDLEWARE; the subclasses above are those
    # middlewares. tests/django_async_views/test_rest.py checks the headers they set under both entry points.
    "security.W001",
    "security.W002",
]
