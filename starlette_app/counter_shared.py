"""The user counter shared by every worker and host through Postgres (past listing 9.9: a table plus LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from products_db.config import unreachable_message
from products_db.pool import CONNECT_ERRORS, DatabaseUnavailable

from .counter_broadcast import Clients, log_crash

logger = logging.getLogger(__name__)

# Why one row per worker with a heartbeat, rather than one shared number that every connect
# increments and every disconnect decrements: a worker killed with SIGKILL (or a host that loses
# power or network) never runs its decrements, so a shared number would count its clients forever.
# Each worker instead owns a row holding its own count and refreshes the row's heartbeat every
# COUNTER_HEARTBEAT seconds; the total only sums rows refreshed within COUNTER_EXPIRY seconds, so a
# dead worker's clients stop counting after at most that long. Heartbeats use the database's clock
# (now()), so hosts whose clocks disagree still agree on what is fresh.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS counter_worker (
    worker_id   uuid PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    connections integer NOT NULL CHECK (connections >= 0),
    heartbeat   timestamptz NOT NULL
)
"""
# Several workers start at once, and concurrent CREATE TABLE IF NOT EXISTS can still collide in
# the catalog; a transaction-scoped advisory lock makes them take turns.
SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('counter_worker'))"

UPSERT_WORKER = """
INSERT INTO counter_worker (worker_id, host, pid, connections, heartbeat)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (worker_id) DO UPDATE SET connections = excluded.connections, heartbeat = now()
"""
# Tell every worker (this one included) that the total may have changed; delivered on commit.
NOTIFY = "SELECT pg_notify('counter_changed', '')"
CHANNEL = "counter_changed"
TOTAL = """
SELECT coalesce(sum(connections), 0)::int FROM counter_worker
WHERE heartbeat >= now() - make_interval(secs => $1)
"""
# Only the write loop sets connections, so an older count can never overwrite a newer one.
TOUCH_WORKER = "UPDATE counter_worker SET heartbeat = now() WHERE worker_id = $1"
DELETE_EXPIRED = "DELETE FROM counter_worker WHERE heartbeat < now() - make_interval(secs => $1)"
DELETE_WORKER = "DELETE FROM counter_worker WHERE worker_id = $1"

DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


class SharedCount:
    """This worker's part of the shared count: its row, its listener, and the tasks that keep them current.

    Three loops, each woken by an event so bursts coalesce into one query:
    - write: the local clients changed -> upsert this worker's row and NOTIFY, in one transaction;
    - read: a NOTIFY arrived (or a heartbeat passed) -> sum the fresh rows and publish the total;
    - heartbeat: refresh this worker's heartbeat, delete expired rows, and re-read the total, which
      is also the safety net for a lost notification or a dead listener connection.
    """

    def __init__(self, clients: Clients, pool: asyncpg.Pool, heartbeat: float, expiry: float) -> None:
        self.clients = clients
        self.pool = pool
        self.heartbeat = heartbeat
        self.expiry = expiry
        self.worker_id = uuid.uuid4()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.local_changed = asyncio.Event()
        self.total_changed = asyncio.Event()
        clients.on_change = self.local_changed.set

    def on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self.total_changed.set()

    async def write_row(self) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(UPSERT_WORKER, self.worker_id, self.host, self.pid, self.clients.count)
            await connection.execute(NOTIFY)

    async def write_loop(self) -> None:
        await self._forever(self.local_changed, self.write_row)

    async def read_total(self) -> None:
        total = await self.pool.fetchval(TOTAL, self.expiry)
        self.clients.publish(str(total))

    async def read_loop(self) -> None:
        await self._forever(self.total_changed, self.read_total)

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                async with self.pool.acquire() as connection:
                    touched = await connection.execute(TOUCH_WORKER, self.worker_id)
                    await connection.execute(DELETE_EXPIRED, self.expiry)
                if touched == "UPDATE 0":
                    # This worker was silent too long (a stalled loop, a database outage) and its
                    # row was deleted as expired: have the write loop put it back.
                    self.local_changed.set()
            except DATABASE_ERRORS as error:
                logger.warning("counter heartbeat failed, retrying: %s", error)
            self.total_changed.set()

    async def _forever(self, event: asyncio.Event, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await event.wait()
            event.clear()
            try:
                await action()
            except DATABASE_ERRORS as error:
                # Keep serving: the database may be restarting. Try again after a heartbeat.
                logger.warning("counter %s failed, retrying: %s", action.__name__, error)
                await asyncio.sleep(self.heartbeat)
                event.set()


async def create_table(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(SCHEMA_LOCK)
        await connection.execute(CREATE_TABLE)


@asynccontextmanager
async def shared_count(
    clients: Clients, pool: asyncpg.Pool, database_url: str, heartbeat: float, expiry: float
) -> AsyncIterator[SharedCount]:
    """Run this worker's part of the shared count for as long as the app runs; leave cleanly at the end."""
    shared = SharedCount(clients, pool, heartbeat, expiry)
    await create_table(pool)
    await shared.write_row()
    # LISTEN needs a connection of its own for the app's whole life: a pooled connection
    # goes back to the pool, and its notifications with it.
    try:
        listener = await asyncpg.connect(database_url, timeout=10)
    except CONNECT_ERRORS as error:
        raise DatabaseUnavailable(unreachable_message(database_url, error)) from None
    try:
        await listener.add_listener(CHANNEL, shared.on_notify)
        shared.total_changed.set()  # read the total once at start
        tasks = [asyncio.create_task(loop()) for loop in (shared.write_loop, shared.read_loop, shared.heartbeat_loop)]
        for task in tasks:
            task.add_done_callback(log_crash)
        try:
            yield shared
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Leave at once rather than after the expiry: the other workers re-read right away.
            try:
                async with asyncio.timeout(5), pool.acquire() as connection, connection.transaction():
                    await connection.execute(DELETE_WORKER, shared.worker_id)
                    await connection.execute(NOTIFY)
            except DATABASE_ERRORS as error:
                logger.warning("could not remove this worker's counter row (it will expire): %s", error)
    finally:
        await listener.close(timeout=5)
