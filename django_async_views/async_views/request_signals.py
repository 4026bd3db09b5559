"""Django's request_started receivers skipped under ASGI: with the pool they do nothing, at a thread's cost."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db import close_old_connections, connections, reset_queries


def skip_request_started_receivers() -> None:
    """Disconnect reset_queries and close_old_connections from request_started (DEBUG off only).

    Under ASGI Django sends request_started through sync_to_async, since both receivers are
    synchronous: a trip to the request's thread and back, on every request, about a tenth of
    a GET /brands' CPU. Neither has work to do here. close_old_connections closes a connection a
    previous request left broken or too old, but with Django's pool and CONN_MAX_AGE = 0 every
    request hands its connection back at its end (request_finished runs close_old_connections
    too, and keeps it), so a request starts with none open. reset_queries empties the query log,
    which only DEBUG fills; with DEBUG on, both receivers stay.
    """
    if settings.DEBUG:
        return
    for alias in connections:
        if connections.settings[alias]["CONN_MAX_AGE"] != 0:
            message = f"DATABASES[{alias!r}]: request_started's receivers are skipped only with CONN_MAX_AGE = 0"
            raise ImproperlyConfigured(message)
    request_started.disconnect(reset_queries)
    request_started.disconnect(close_old_connections)
