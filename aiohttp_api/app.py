"""The application factory (listing 9.2's pool, and the production layers around the routes), no I/O until it runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from products_db.config import CONNECT_TIMEOUT, ConfigError, DatabaseUnavailable, Settings
from products_db.logs import configure_logging, startup_failed
from products_db.pool import FairPool, first_contact, keep_session, statement_timeout
from products_db.rules import MAX_BODY_BYTES
from products_db.timeouts import body_timeout

from .errors import json_errors
from .keys import POOL, SETTINGS
from .malformed_requests import answer_parse_errors_in_json
from .routes import setup_routes
from .timeouts import body_deadline

log = logging.getLogger(__name__)


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    """Listing 9.2: open the pool before the first request and close it after the last (one place for both)."""
    settings = app[SETTINGS]
    app[POOL] = await FairPool(  # asyncpg's Pool, serving waiting requests in arrival order
        settings.database_url,
        min_size=0,  # connect as requests need it: the server starts with Postgres down (503s until it is up)
        max_size=settings.pool_size,  # DB_POOL_SIZE: queries in flight at once in this process
        timeout=CONNECT_TIMEOUT,  # seconds one connect may take
        acquire_timeout=settings.acquire_timeout,  # seconds a request waits for a connection, then 503
        server_settings=statement_timeout(settings),  # Postgres cancels a statement that runs longer
        command_timeout=settings.silence_limit,  # a connection that answers nothing this long is dropped
        reset=keep_session,  # no reset query when a connection comes back: one round trip per request
    )
    try:
        await first_contact(app[POOL], settings.database_url)  # a wrong password stops the server here
    except DatabaseUnavailable as error:
        startup_failed(log, error)  # one line, then exit code 3: gunicorn stops instead of respawning workers
    yield
    await app[POOL].close()


def init_app(settings: Settings | None = None) -> web.Application:
    configure_logging()  # errors to stderr in the format every app shares (products_db/logs.py)
    try:
        settings = settings or Settings.from_env()
        seconds = body_timeout()  # BODY_TIMEOUT
    except ConfigError as error:
        startup_failed(log, error)  # one line naming the setting, then exit code 3
    # The production layers, outermost first; each module can be skipped on a first reading.
    middlewares = [
        json_errors,  # errors.py: every error as JSON, a database outage as 503 (one log line per outage)
        body_deadline(seconds),  # timeouts.py: a body that stalls mid-upload is a 408
    ]
    app = web.Application(
        middlewares=middlewares,
        client_max_size=MAX_BODY_BYTES,  # a larger body is a 413 (json_errors answers it)
    )
    answer_parse_errors_in_json(app)  # malformed_requests.py: what aiohttp's parser refuses (URL, headers) as JSON
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_pool)  # the fair pool above, open while the app runs
    setup_routes(app)
    return app
