"""The user counter shared by every worker and host through Postgres (past listing 9.9: a table plus LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from products_db.config import CONNECT_TIMEOUT, DatabaseUnavailable, unreachable_message
from products_db.logs import one_line
from products_db.pool import CONNECT_ERRORS

from .counter import Counter, log_crash

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)

# The table: one row per worker, and the SQL the shared mode runs on it.
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
# The other workers' clients, from their fresh rows. A worker adds its own clients as it counts them now,
# never as its row says: the row can lag behind them (a write that failed and waits for its retry), and
# a total read back with it would step back below a number the clients were already told.
OTHERS = """
SELECT coalesce(sum(connections), 0)::int
FROM counter_worker WHERE heartbeat >= now() - make_interval(secs => $1) AND worker_id <> $2
"""
# Only the write loop sets connections, so an older count can never overwrite a newer one.
TOUCH_WORKER = "UPDATE counter_worker SET heartbeat = now() WHERE worker_id = $1"
DELETE_EXPIRED = "DELETE FROM counter_worker WHERE heartbeat < now() - make_interval(secs => $1)"
DELETE_WORKER = "DELETE FROM counter_worker WHERE worker_id = $1"


async def create_table(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(SCHEMA_LOCK)
        await connection.execute(CREATE_TABLE)


FIRST_RETRY = 0.1  # seconds before the first retry after a failure; it doubles up to COUNTER_RETRY_MAX


class Backoff:
    """How long to wait before the next attempt to reach the database: 0.1 s, doubling up to a cap.

    Doubling spares a database that is struggling; the cap keeps the recovery quick once it is back;
    the jitter (each wait is between half and all of the delay) keeps the workers of every host from
    reconnecting in the same instant when Postgres comes back.
    """

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.delay = FIRST_RETRY
        self.failures = 0  # consecutive; 0 means the last attempt worked

    def reset(self) -> None:
        self.delay = FIRST_RETRY
        self.failures = 0

    async def wait(self) -> None:
        self.failures += 1
        delay = min(self.delay, self.cap)
        self.delay = delay * 2
        await asyncio.sleep(delay * (0.5 + random.random() / 2))


class SharedCount:
    """This worker's part of the shared count: its row, its listener, and the tasks that keep them current.

    It takes over the in-memory counter's on_change (counter.py), so every connect, disconnect and
    drop of this worker's clients calls clients_changed; the lifespan keeps running() open for the
    app's whole life (counter_settings.open_counter).

    Four loops; the first three are woken by an event, so bursts coalesce into one query:
    - write: the local clients changed -> upsert this worker's row and NOTIFY, in one transaction;
    - read: a NOTIFY arrived (or a heartbeat passed) -> sum the other workers' fresh rows, add this
      worker's own clients, and publish the total;
    - heartbeat: refresh this worker's heartbeat, delete expired rows, and re-read the total, which
      is also the safety net for a lost notification;
    - listen: keep the LISTEN connection open, and open it again when it is lost (Postgres restarted,
      the network dropped it), so that updates cross workers in milliseconds again, not at heartbeats.
    While the database cannot be reached, the clients are still told a number: the other workers' clients
    as last read, plus this worker's own (publish_total).
    """

    def __init__(
        self, clients: Counter, pool: asyncpg.Pool, database_url: str, heartbeat: float, expiry: float, retry_max: float
    ) -> None:
        self.clients = clients
        clients.on_change = self.clients_changed
        self.pool = pool
        self.database_url = database_url
        self.heartbeat = heartbeat
        self.expiry = expiry
        self.retry_max = retry_max
        self.worker_id = uuid.uuid4()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.local_changed = asyncio.Event()
        self.total_changed = asyncio.Event()
        self.others = 0  # the other workers' clients, as of the last read

    def clients_changed(self) -> None:
        """This worker's clients changed: the write loop stores the new count in its row, then NOTIFYs."""
        self.local_changed.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run this worker's part of the shared count for as long as the app runs; leave cleanly at the end."""
        await create_table(self.pool)
        await self.write_row()
        # LISTEN needs a connection of its own for the app's whole life: a pooled connection
        # goes back to the pool, and its notifications with it. The first one is opened here, so
        # that a database that is down stops the start-up with one line; listen_loop owns it after.
        try:
            listener = await asyncpg.connect(self.database_url, timeout=CONNECT_TIMEOUT)
        except CONNECT_ERRORS as error:
            raise DatabaseUnavailable(unreachable_message(self.database_url, error)) from None
        loops = (self.write_loop, self.read_loop, self.heartbeat_loop, lambda: self.listen_loop(listener))
        tasks = [asyncio.create_task(loop()) for loop in loops]
        for task in tasks:
            task.add_done_callback(log_crash)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Leave at once rather than after the expiry: the other workers re-read right away.
            try:
                async with self.connection() as connection, connection.transaction():
                    await connection.execute(DELETE_WORKER, self.worker_id)
                    await connection.execute(NOTIFY)
            except DATABASE_ERRORS as error:
                logger.warning("could not remove this worker's counter row (it will expire): %s", error)

    def on_notify(self, connection: object, pid: int, channel: str, payload: object) -> None:
        self.total_changed.set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        """A pooled connection for one step of the counter's work, given up if Postgres is silent for a heartbeat.

        A connection can go silent with no error at all (a network cut, a firewall forgetting it):
        the query waits for TCP, which may take minutes, while this worker's row expires. So a step
        that gets no answer within a heartbeat terminates its connection (asyncpg would wait for
        Postgres to acknowledge a cancel) and has the pool replace the others, which went over the
        same network: the next step runs on a fresh connection.
        """
        async with self.pool.acquire(timeout=self.heartbeat) as connection:
            try:
                async with asyncio.timeout(self.heartbeat):
                    yield connection
            except TimeoutError:
                connection.terminate()
                await self.pool.expire_connections()
                raise

    async def write_row(self) -> None:
        async with self.connection() as connection, connection.transaction():
            await connection.execute(UPSERT_WORKER, self.worker_id, self.host, self.pid, len(self.clients.sockets))
            await connection.execute(NOTIFY)

    async def write_loop(self) -> None:
        await self._forever(self.local_changed, self.write_row)

    async def read_total(self) -> None:
        async with self.connection() as connection:
            self.others = await connection.fetchval(OTHERS, self.expiry, self.worker_id)
        self.publish_total()

    def publish_total(self) -> None:
        """Tell the clients the other workers' clients, as last read, plus this worker's own, now.

        The same sum whether the read just worked or the database cannot be asked: a client that
        connects during an outage gets a number at once, and this worker's own connects and
        disconnects still move it.
        """
        self.clients.publish(str(self.others + len(self.clients.sockets)))

    async def read_loop(self) -> None:
        await self._forever(self.total_changed, self.read_total)

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                async with self.connection() as connection:
                    touched = await connection.execute(TOUCH_WORKER, self.worker_id)
                    await connection.execute(DELETE_EXPIRED, self.expiry)
                if touched == "UPDATE 0":
                    # This worker was silent too long (a stalled loop, a database outage) and its
                    # row was deleted as expired: have the write loop put it back.
                    self.local_changed.set()
            except DATABASE_ERRORS as error:
                logger.warning("counter heartbeat failed, retrying: %s", error)
            self.total_changed.set()

    async def listen_loop(self, connection: asyncpg.Connection | None) -> None:
        """LISTEN on `connection` until it is lost, then connect again (with backoff) and LISTEN again."""
        backoff = Backoff(self.retry_max)
        while True:
            if connection is None:
                try:
                    connection = await asyncpg.connect(self.database_url, timeout=CONNECT_TIMEOUT)
                except CONNECT_ERRORS as error:
                    if not backoff.failures:
                        logger.warning("counter LISTEN connection: cannot connect, retrying: %s", one_line(error))
                    await backoff.wait()
                    continue
            try:
                await self._listen_until_lost(connection, backoff)
            except DATABASE_ERRORS as error:
                logger.warning("counter LISTEN connection lost, reconnecting: %s", one_line(error))
            except asyncio.CancelledError:  # the app is stopping: say goodbye to Postgres
                await close_quietly(connection)
                raise
            connection.terminate()  # dead or silent: nothing to wait for
            connection = None
            # Not right away: Postgres may still be shutting down, and refuses connections for a moment.
            await backoff.wait()

    async def _listen_until_lost(self, connection: asyncpg.Connection, backoff: Backoff) -> None:
        lost = asyncio.Event()
        # Called by asyncpg as soon as the socket closes: Postgres restarting or killed, a proxy
        # dropping the connection. The notifications would stop silently; this says so at once.
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(CHANNEL, self.on_notify)
        if backoff.failures:  # listening again after a loss
            logger.info("counter LISTEN connection open again after %d attempt(s)", backoff.failures)
            # Whatever was notified while nobody listened is lost, and this worker's row may have
            # expired meanwhile: write it again now rather than at the next heartbeat.
            self.local_changed.set()
        backoff.reset()
        self.total_changed.set()  # and read the total now
        while not lost.is_set():
            try:
                async with asyncio.timeout(self.heartbeat):
                    await lost.wait()
            except TimeoutError:
                # A connection can also die silently (a network cut sends nothing): ask it, every
                # heartbeat, for an answer; no answer within the expiry counts as lost.
                await connection.fetchval("SELECT 1", timeout=self.expiry)
        raise ConnectionResetError("the server closed the connection")

    async def _forever(self, event: asyncio.Event, action: Callable[[], Awaitable[None]]) -> None:
        backoff = Backoff(self.retry_max)
        while True:
            await event.wait()
            event.clear()
            try:
                # Bounded: a database that does not answer (a network cut) must not leave
                # the clients waiting on it; after the expiry this worker's row is stale anyway.
                async with asyncio.timeout(self.expiry):
                    await action()
            except DATABASE_ERRORS as error:
                # Keep serving: the database may be restarting. Tell the clients the best
                # number we have, and try again soon (the listener also wakes us once it is back).
                if not backoff.failures:
                    logger.warning("counter %s failed, retrying: %s", action.__name__, one_line(error))
                self.publish_total()
                await backoff.wait()
                event.set()
            else:
                if backoff.failures:
                    logger.info("counter %s works again after %d failure(s)", action.__name__, backoff.failures)
                backoff.reset()


async def close_quietly(connection: asyncpg.Connection) -> None:
    try:
        await connection.close(timeout=5)
    except DATABASE_ERRORS:
        pass  # asyncpg has aborted it: closed either way
