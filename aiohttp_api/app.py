"""The application factory: routes, the error layer and the pool's lifetime, and no I/O until it runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from products_db.config import ConfigError, DatabaseUnavailable, Settings
from products_db.logs import configure_logging, startup_failed
from products_db.pool import create_pool
from products_db.rules import MAX_BODY_BYTES
from products_db.timeouts import body_timeout

from .errors import json_errors
from .keys import POOL, SETTINGS
from .malformed_requests import answer_parse_errors_in_json
from .routes import setup_routes
from .timeouts import body_deadline

log = logging.getLogger(__name__)


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    """Open the pool before the first request and close it after the last (one place for both)."""
    try:
        app[POOL] = await create_pool(app[SETTINGS])
    except DatabaseUnavailable as error:
        startup_failed(log, error)  # one line, then exit code 3: gunicorn stops instead of respawning workers
    yield
    await app[POOL].close()


def init_app(settings: Settings | None = None) -> web.Application:
    configure_logging()  # errors to stderr in the format every app shares (products_db/logs.py)
    try:
        settings = settings or Settings.from_env()
        deadline = body_deadline(body_timeout())
    except ConfigError as error:
        startup_failed(log, error)  # one line naming the setting, then exit code 3
    # json_errors outermost, so a body over client_max_size met by body_deadline is its 413.
    app = web.Application(middlewares=[json_errors, deadline], client_max_size=MAX_BODY_BYTES)
    # A request aiohttp cannot parse never reaches a middleware: aiohttp answers it, here in JSON.
    answer_parse_errors_in_json(app)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_pool)
    setup_routes(app)
    return app
