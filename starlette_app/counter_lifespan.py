"""The counter's part of the lifespan: the client set, its broadcast task and, in postgres mode, the shared count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from .counter_broadcast import Clients, log_crash
from .counter_settings import CounterSettings
from .counter_shared import shared_count


@asynccontextmanager
async def open_counter(settings: CounterSettings, pool: asyncpg.Pool, database_url: str) -> AsyncIterator[Clients]:
    """The lifespan's counter: this process's clients, plus the shared count in postgres mode."""
    clients = Clients(settings.send_timeout)
    if settings.mode == "memory":
        # The book's version: the count is simply how many clients this process holds.
        clients.on_change = lambda: clients.publish(str(clients.count))
    sender = asyncio.create_task(clients.run(), name="counter-broadcast")
    sender.add_done_callback(log_crash)
    try:
        if settings.mode == "postgres":
            async with shared_count(
                clients, pool, database_url, settings.heartbeat, settings.expiry, settings.retry_max
            ):
                yield clients
        else:
            yield clients
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await clients.aclose()
