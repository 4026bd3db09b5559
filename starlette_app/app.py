"""The application factory; `app` is what `uvicorn starlette_app.app:app` serves."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware

from products_db.config import ConfigError, Settings
from products_db.http_limits import HeaderLimits
from products_db.logs import configure_logging, startup_failed
from products_db.pool import create_pool
from products_db.timeouts import body_timeout

from .counter import Counter
from .counter_guard import WebSocketGuard
from .counter_settings import CounterSettings, open_counter
from .errors import UnexpectedErrors, exception_handlers
from .header_limits import HeaderLimit
from .limits import BodySizeLimit
from .routes import routes
from .startup import OneLineStartupError
from .timeouts import BodyDeadline


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
        # Starlette 1.x replaced on_startup/on_shutdown with one context manager:
        # the pool is opened before the first request and closed after the last.
        # A database that is down raises DatabaseUnavailable here: the server
        # logs its one line (OneLineStartupError) and exits with code 3.
        pool = await create_pool(settings)
        # The counter's tasks (and, with COUNTER_MODE=postgres, its LISTEN connection) live as long.
        async with pool, open_counter(counter_settings, pool, settings.database_url) as counter:
            yield {"pool": pool, "counter": counter, "counter_guard": counter_settings.guard}

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(UnexpectedErrors),
            Middleware(OneLineStartupError),
            Middleware(HeaderLimit, limits=header_limits),
            Middleware(BodySizeLimit),
            Middleware(BodyDeadline, seconds=body_timeout()),
        ],
        exception_handlers=exception_handlers,
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
