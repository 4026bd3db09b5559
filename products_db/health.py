"""What the health endpoints answer on every app: /healthz without the database, /readyz through it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Flask shares the constants and never imports asyncpg
    import asyncpg

# GET /healthz: the process is up and its event loop (or worker) answers. It touches
# no database on purpose: an orchestrator restarts a server that fails this, and
# restarting every server because the database is down would help nobody.
ALIVE = {"status": "ok"}

# GET /readyz: the server can serve right now, its database answering one round trip.
# A server that fails this is taken out of rotation (a load balancer, compose's
# depends_on) and put back when it passes, without a restart.
READY = {"status": "ready"}
PING = "SELECT 1"
# Seconds /readyz waits for the database: a probe wants a quick no, and a database
# that needs longer for SELECT 1 cannot serve the API's requests either.
READY_TIMEOUT = 2.0


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip through the pool, connecting first if it must; TimeoutError past READY_TIMEOUT."""
    # The timeout covers the wait for a free connection too: a pool busy for
    # longer than this is as unready as a database that is down.
    async with asyncio.timeout(READY_TIMEOUT):
        await pool.fetchval(PING)
