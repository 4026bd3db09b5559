"""gunicorn settings for the multi-process aiohttp server: one event loop per worker, one worker per core."""

import asyncio
import logging
import os

import asyncpg

from products_db.config import database_url, unreachable_message
from products_db.logs import startup_failed
from products_db.pool import CONNECT_ERRORS

# aiohttp's worker runs one event loop per process: the loop gives concurrency
# within a process, the processes give parallelism across cores. This one runs
# uvloop, as `python -m aiohttp_api` does.
worker_class = "aiohttp.GunicornUVLoopWebWorker"
# One worker per core: more event loops than cores only take turns on the CPU.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
bind = "127.0.0.1:8080"


async def _check_database(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    await connection.close()


def on_starting(server) -> None:
    """Check the database once, in the master, before any worker forks.

    Otherwise every worker fails on its own, and gunicorn prints a traceback
    while it stops the rest.
    """
    url = database_url()
    try:
        asyncio.run(_check_database(url))
    except CONNECT_ERRORS as error:
        startup_failed(logging.getLogger(__name__), unreachable_message(url, error))
