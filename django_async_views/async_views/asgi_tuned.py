"""Django's ASGI application with three tweaks that spend less CPU per request than stock Django (asgi.py).

    gunicorn async_views.asgi_tuned:application -k uvicorn_worker.UvicornWorker

Under ASGI, Django runs each synchronous part of a request (every ORM query, each hook of a
MiddlewareMixin middleware, each synchronous signal receiver) through sync_to_async: a trip from
the event loop to the request's thread and back, in a thread Django starts for that request.
On two cores those trips cost as much as the query. Each tweak saves some; the README says what
each gained, measured, and the benchmark runs this entry point as its own row beside stock Django.

1. Django's security, common and clickjacking middleware with their hooks on the event loop
   (settings_tuned.py, middleware.py): five trips fewer.
2. request_started's two receivers disconnected (skip_request_started_receivers): one trip fewer.
3. Each request's thread taken from a fixed set of long-lived ones (ReusedThreadsASGIHandler),
   where Django starts a new thread per request and joins it at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.db import close_old_connections, connections, reset_queries

from products_db.asgi_guards import BodyDeadline, BodySizeLimit, HeaderLimit
from products_db.config import ConfigError
from products_db.http_limits import HeaderLimits
from products_db.logs import client_faults_at_info, startup_failed
from products_db.timeouts import body_timeout


class ReusedThreadsASGIHandler(ASGIHandler):
    """Run each request's thread-sensitive calls on a thread of its own, taken from `threads` long-lived ones.

    Django's ASGIHandler gives each request a ThreadSensitiveContext: the request's synchronous
    parts run on one thread reserved for it, which asgiref starts for the request and joins at
    its end. asgiref lets the caller hand in the executor (ThreadSensitiveContext(executor=...)),
    so here a finished request's thread serves the next one. With as many threads as the pool has
    connections, a request that finds them all busy waits in the event loop, where waiting is
    cheap, not in a thread blocked on the pool.
    """

    def __init__(self, threads: int) -> None:
        super().__init__()
        self._free: asyncio.Queue[ThreadPoolExecutor] = asyncio.Queue()
        for number in range(threads):
            # One thread per executor keeps a request's calls in order; it starts on first use.
            self._free.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{number}"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan and websocket: Django's own answer
            await super().__call__(scope, receive, send)
            return
        executor = await self._free.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._free.put_nowait(executor)


def skip_request_started_receivers() -> None:
    """Disconnect reset_queries and close_old_connections from request_started (DEBUG off only).

    Both receivers are synchronous, so Django sends request_started through sync_to_async, and
    neither has work to do here. close_old_connections closes a connection a previous request
    left broken or too old, but with Django's pool and CONN_MAX_AGE = 0 every request hands its
    connection back at its end (request_finished runs close_old_connections too, and keeps it),
    so a request starts with none open. reset_queries empties the query log, which only DEBUG
    fills; with DEBUG on, both receivers stay.
    """
    if settings.DEBUG:
        return
    for alias in connections:
        if connections.settings[alias]["CONN_MAX_AGE"] != 0:
            message = f"DATABASES[{alias!r}]: request_started's receivers are skipped only with CONN_MAX_AGE = 0"
            raise ImproperlyConfigured(message)
    request_started.disconnect(reset_queries)
    request_started.disconnect(close_old_connections)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "async_views.settings_tuned")  # tweak 1: the middleware

try:
    # What get_asgi_application() does, with tweaks 2 and 3.
    django.setup(set_prefix=False)
    client_faults_at_info()  # uvicorn's line for a request it cannot parse: INFO, not WARNING (products_db/logs.py)
    skip_request_started_receivers()
    # As many request threads as the pool has connections: each runs one request's queries.
    django_application = ReusedThreadsASGIHandler(threads=settings.DB_POOL_SIZE)
    header_limits = HeaderLimits.from_env()  # MAX_REQUEST_HEADERS, MAX_HEADER_BYTES
    body_seconds = body_timeout()  # BODY_TIMEOUT
except (ImproperlyConfigured, ConfigError) as error:
    startup_failed(logging.getLogger(__name__), error)  # one line, exit code 3, as in asgi.py

# The same guards as asgi.py (products_db/asgi_guards.py).
application = HeaderLimit(BodySizeLimit(BodyDeadline(django_application, body_seconds)), header_limits)
