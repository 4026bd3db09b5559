"""The application factory; `app` is what `uvicorn starlette_app.app:app` serves."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import asyncpg
from starlette.applications import Starlette

from products_db.config import Settings
from products_db.pool import DatabaseUnavailable, create_pool

from .routes import routes


class State(TypedDict):
    """What the lifespan yields; Starlette copies it into every request.state."""

    pool: asyncpg.Pool


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # Starlette 1.x replaced on_startup/on_shutdown with one context manager:
        # the pool is opened before the first request and closed after the last.
        try:
            pool = await create_pool(settings)
        except DatabaseUnavailable as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(3) from None
        async with pool:
            yield {"pool": pool}

    return Starlette(routes=routes, lifespan=lifespan)


# Building the app does no I/O: the pool opens when the server runs the lifespan.
app = create_app()
