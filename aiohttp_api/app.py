"""The application factory: routes, the error layer and the pool's lifetime, and no I/O until it runs."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from aiohttp import web

from products_db.config import Settings
from products_db.pool import DatabaseUnavailable, create_pool
from products_db.rules import MAX_BODY_BYTES

from .errors import json_errors
from .keys import POOL, SETTINGS
from .routes import setup_routes


async def database_pool(app: web.Application) -> AsyncIterator[None]:
    """Open the pool before the first request and close it after the last (one place for both)."""
    try:
        app[POOL] = await create_pool(app[SETTINGS])
    except DatabaseUnavailable as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        # Exit code 3 is gunicorn's "worker failed to boot": its arbiter stops
        # instead of respawning workers that can never start.
        raise SystemExit(3) from None
    yield
    await app[POOL].close()


def init_app(settings: Settings | None = None) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings or Settings.from_env()
    app.cleanup_ctx.append(database_pool)
    setup_routes(app)
    return app
