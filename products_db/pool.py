"""Opening an asyncpg pool with an error a person can read when the database is wrong or down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from .config import CONNECT_TIMEOUT, DatabaseUnavailable, Settings, unreachable_message
from .outage import OUTAGE

# What a failed connect can raise: refused or unresolvable host (OSError), a
# server that never answers (TimeoutError), bad credentials or a missing
# database (PostgresError), a non-Postgres peer (InterfaceError).
CONNECT_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# Closing says goodbye to Postgres on every connection and waits for it to hang up: milliseconds, unless a
# network cut left a connection silent, when nothing ever answers and the server would not stop on SIGTERM.
CLOSE_TIMEOUT = 5.0


async def keep_session(connection: asyncpg.Connection) -> None:
    """What the pool does to a connection handed back: nothing beyond asyncpg's own clean-up.

    asyncpg always clears listeners and rolls back a transaction left open. Its
    default reset then runs one more query (RESET ALL, UNLISTEN *, CLOSE ALL,
    pg_advisory_unlock_all()): a second round trip for every request. The apps
    never change session state (no SET, LISTEN, cursors or advisory locks on
    pooled connections), so there is nothing for it to undo.
    """


class FairPool(asyncpg.Pool):
    """asyncpg's pool, handing connections to the requests that wait for one in the order they came.

    asyncpg gives a returned connection to whichever coroutine asks next, so a
    request that was already waiting can lose it to a newcomer, again and again:
    under overload a few requests waited over 2 s while the median took 20 ms.
    An asyncio.Semaphore (first come, first served) lets in as many requests as
    there are connections, in arrival order; the rest queue there.
    """

    def __init__(self, *args: Any, max_size: int, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, max_size=max_size, **kwargs)
        self._turns = asyncio.Semaphore(max_size)
        self._acquire_timeout = acquire_timeout

    # Narrower than asyncpg's: only `async with pool.acquire()`, which gives the turn back; a bare
    # `await pool.acquire()` could not.
    def acquire(  # type: ignore[override]
        self, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[asyncpg.Connection]:
        # fetch(), fetchval() and the rest all borrow their connection through acquire().
        return self._in_turn(super().acquire(timeout=timeout))

    async def close(self) -> None:
        """Close every connection politely, but give up on the silent ones after CLOSE_TIMEOUT: terminate them."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await super().close()
        except TimeoutError:
            self.terminate()  # (asyncpg has begun to already: a close cancelled terminates the pool)

    @asynccontextmanager
    async def _in_turn(self, acquiring: Any) -> AsyncIterator[asyncpg.Connection]:
        started_in = OUTAGE.outages
        try:
            if self._turns.locked():  # only a request that must queue needs a timer
                async with asyncio.timeout(self._acquire_timeout):
                    await self._turns.acquire()
            else:
                await self._turns.acquire()  # a free turn: taken at once
        except TimeoutError:
            # Answered 503 by the error layer, like an outage: "try again later".
            raise TimeoutError(f"no database connection free within {self._acquire_timeout:g} s") from None
        try:
            async with acquiring as connection:
                yield connection
        finally:
            self._turns.release()
        # Reached only when the query and the connection's return went through:
        # if an outage was on, it is over (one boolean read otherwise).
        OUTAGE.succeeded(started_in)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    # min_size == max_size: every connection is opened now, so a wrong URL fails
    # at start-up rather than on the first request, and no request pays for a connect.
    try:
        return await FairPool(
            settings.database_url,
            min_size=settings.pool_size,
            max_size=settings.pool_size,
            timeout=CONNECT_TIMEOUT,
            reset=keep_session,
            acquire_timeout=settings.acquire_timeout,
            # Postgres cancels a statement that runs longer; a URL that sets its own wins, as with psycopg.
            server_settings=None
            if "statement_timeout" in settings.database_url
            else {"statement_timeout": settings.statement_timeout_ms},
            # When no answer comes at all (a connection a network cut left silent, which TCP may not
            # report for minutes), the client gives up too, a little after Postgres would have: the
            # request gets the outage's 503, and the connection is dropped rather than reused.
            command_timeout=settings.silence_limit,
            # The rest as asyncpg.create_pool() sets them.
            max_queries=50000,
            max_inactive_connection_lifetime=300.0,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
        )
    except CONNECT_ERRORS as error:
        raise DatabaseUnavailable(unreachable_message(settings.database_url, error)) from None
