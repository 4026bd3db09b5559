"""The counter's part of the lifespan: the client set, its broadcast task, and where the count comes from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import asyncpg

from .counter_broadcast import Clients, log_crash
from .counter_settings import CounterSettings
from .counter_shared import SharedCount


class CountSource(Protocol):
    """Where the number the clients are told comes from: this process alone, or every worker through Postgres."""

    def clients_changed(self) -> None:
        """This process's clients changed (a connect, a disconnect, a drop): publish the new count, now or soon."""

    def running(self) -> AbstractAsyncContextManager[None]:
        """What the source needs while the app runs (tasks, connections), opened and then closed."""


class MemoryCount:
    """The book's count: how many clients this process holds. Right with one worker only."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def clients_changed(self) -> None:
        self.clients.publish(str(self.clients.count))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield  # nothing to open: the count is in this process's memory


def count_source(settings: CounterSettings, clients: Clients, pool: asyncpg.Pool, database_url: str) -> CountSource:
    """The one place that picks where the count comes from (COUNTER_MODE)."""
    if settings.mode == "postgres":
        return SharedCount(clients, pool, database_url, settings.heartbeat, settings.expiry, settings.retry_max)
    return MemoryCount(clients)


@asynccontextmanager
async def open_counter(settings: CounterSettings, pool: asyncpg.Pool, database_url: str) -> AsyncIterator[Clients]:
    """The lifespan's counter: this process's clients, told the count by one broadcast task, for the app's life."""
    clients = Clients(settings.send_timeout)
    source = count_source(settings, clients, pool, database_url)
    # The source learns of every change to the client set, and publishes the count through it.
    clients.on_change = source.clients_changed
    sender = asyncio.create_task(clients.run(), name="counter-broadcast")
    sender.add_done_callback(log_crash)
    try:
        async with source.running():
            yield clients
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await clients.aclose()
