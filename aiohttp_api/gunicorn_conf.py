"""gunicorn settings for the multi-process aiohttp server: one event loop per worker, one worker per core."""

import asyncio
import logging
import os

import asyncpg

from products_db.config import CONNECT_TIMEOUT, ConfigError, DatabaseUnavailable, Settings
from products_db.logs import startup_failed
from products_db.pool import first_contact

# aiohttp's worker runs one event loop per process: the loop gives concurrency
# within a process, the processes give parallelism across cores. This one runs
# uvloop, as `python -m aiohttp_api` does.
worker_class = "aiohttp.GunicornUVLoopWebWorker"
# One worker per core: more event loops than cores only take turns on the CPU.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
bind = "127.0.0.1:8080"


async def _first_contact(settings: Settings) -> None:
    async with asyncpg.create_pool(settings.database_url, min_size=0, max_size=1, timeout=CONNECT_TIMEOUT) as pool:
        await first_contact(pool, settings.database_url)


def on_starting(server) -> None:
    """Check the settings and try the database once in the master, before any worker forks.

    The same checks each worker makes when it starts (app.py), made once: otherwise every worker
    fails on its own, and gunicorn prints a traceback while it stops the rest. A database that is
    only down stops nothing: the workers start, and answer 503 on its routes until it is back.
    """
    try:
        settings = Settings.from_env()
        asyncio.run(_first_contact(settings))
    except (ConfigError, DatabaseUnavailable) as error:
        startup_failed(logging.getLogger(__name__), error)
