"""The application factory; `app` is what `uvicorn starlette_app.app:app` serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware

from products_db.asgi_guards import BodyDeadline, BodySizeLimit, HeaderLimit
from products_db.config import CONNECT_TIMEOUT, ConfigError, Settings
from products_db.http_limits import HeaderLimits
from products_db.logs import configure_logging, startup_failed
from products_db.pool import FairPool, first_contact, keep_session, statement_timeout
from products_db.timeouts import body_timeout

from .counter import Counter
from .counter_guard import WebSocketGuard
from .counter_settings import CounterSettings, open_counter
from .errors import UnexpectedErrors, exception_handlers
from .routes import routes
from .startup import OneLineStartupError


class State(TypedDict):
    """What the lifespan yields; Starlette copies it into every request.state."""

    pool: asyncpg.Pool
    counter: Counter  # the /counter WebSocket clients of this process (counter.py; counter_settings.py opens it)
    counter_guard: WebSocketGuard  # which pages may open /counter, how big a message may be (counter_guard.py)


def create_app(settings: Settings | None = None, counter_settings: CounterSettings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    counter_settings = counter_settings or CounterSettings.from_env()
    header_limits = HeaderLimits.from_env()  # MAX_REQUEST_HEADERS, MAX_HEADER_BYTES

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        configure_logging()  # errors to stderr in the format every app shares (products_db/logs.py)
        # Listing 9.8. Starlette 1.x replaced on_startup/on_shutdown with one context manager:
        # the pool is opened before the first request and closed after the last.
        pool = await FairPool(  # asyncpg's Pool, serving waiting requests in arrival order
            settings.database_url,
            min_size=0,  # connect as requests need it: the server starts with Postgres down (503s until it is up)
            max_size=settings.pool_size,  # DB_POOL_SIZE: queries in flight at once in this process
            timeout=CONNECT_TIMEOUT,  # seconds one connect may take
            acquire_timeout=settings.acquire_timeout,  # seconds a request waits for a connection, then 503
            server_settings=statement_timeout(settings),  # Postgres cancels a statement that runs longer
            command_timeout=settings.silence_limit,  # a connection that answers nothing this long is dropped
            reset=keep_session,  # no reset query when a connection comes back: one round trip per request
        )
        # A wrong password raises DatabaseUnavailable here: one line (OneLineStartupError), exit code 3.
        await first_contact(pool, settings.database_url)
        # The counter's tasks (and, with COUNTER_MODE=postgres, its LISTEN connection) live as long.
        async with pool, open_counter(counter_settings, pool, settings.database_url) as counter:
            yield {"pool": pool, "counter": counter, "counter_guard": counter_settings.guard}

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # The production layers, outermost first; each module can be skipped on a first reading.
        middleware=[
            Middleware(UnexpectedErrors),  # errors.py: a bug is a JSON 500, a database outage a JSON 503
            Middleware(OneLineStartupError),  # startup.py: a failed start is one log line, not a traceback
            # products_db/asgi_guards.py, shared with Django (a request without a body passes the last two unwrapped):
            Middleware(HeaderLimit, limits=header_limits),  # too many header fields, or one too long: a JSON 431
            Middleware(BodySizeLimit),  # a body over MAX_BODY_BYTES: a JSON 413, before it is all read
            Middleware(BodyDeadline, seconds=body_timeout()),  # a body still arriving after BODY_TIMEOUT: a JSON 408
            # On /counter only, not here: the Origin guard (403) and COUNTER_MAX_MESSAGE (close 1009), COUNTER_LAYERS
            # in routes.py; SecurityHeaders (page_headers.py) on the counter's page and its files, PAGE_HEADERS there.
        ],
        exception_handlers=exception_handlers,  # errors.py: a domain error (400, 404, 413, 415) as JSON
    )
    # Like aiohttp, '/brands/' is an unknown path (404), not a redirect to '/brands'.
    app.router.redirect_slashes = False
    return app


# Building the app does no I/O: the pool opens when the server runs the lifespan.
try:
    app = create_app()
except ConfigError as error:
    # One line naming the setting, then exit code 3: the server stops instead of
    # starting worker after worker into the same error.
    startup_failed(logging.getLogger(__name__), error)
