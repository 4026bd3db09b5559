"""gunicorn settings for the multi-process aiohttp server: one event loop per worker, one worker per core."""

import asyncio
import logging
import os

from products_db.config import ConfigError, DatabaseUnavailable, Settings
from products_db.logs import startup_failed
from products_db.pool import create_pool

# aiohttp's worker runs one event loop per process: the loop gives concurrency
# within a process, the processes give parallelism across cores. This one runs
# uvloop, as `python -m aiohttp_api` does.
worker_class = "aiohttp.GunicornUVLoopWebWorker"
# One worker per core: more event loops than cores only take turns on the CPU.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
bind = "127.0.0.1:8080"


async def _open_and_close_pool(settings: Settings) -> None:
    pool = await create_pool(settings)
    await pool.close()


def on_starting(server) -> None:
    """Open the app's own pool once in the master, before any worker forks, and close it.

    The same check each worker makes when it starts (app.py), made once: otherwise
    every worker fails on its own, and gunicorn prints a traceback while it stops the rest.
    """
    try:
        asyncio.run(_open_and_close_pool(Settings.from_env()))
    except (ConfigError, DatabaseUnavailable) as error:
        startup_failed(logging.getLogger(__name__), error)
