"""The pieces the async apps build their asyncpg pool from (aiohttp_api/app.py, starlette_app/app.py), each skippable.

`FairPool` is asyncpg's pool, serving waiting requests in arrival order; `keep_session` skips the reset
query on release; `statement_timeout` bounds a query in Postgres; `first_contact` tries the database
once at start, stopping the server on a wrong URL or password but not on a database that is only down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from .config import DatabaseUnavailable, Settings, unreachable_message
from .health import PING
from .outage import OUTAGE, database_unavailable

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

    def __init__(self, dsn: str, *, max_size: int, acquire_timeout: float, **options: Any) -> None:
        # What asyncpg.create_pool() would set; it builds only its own Pool class, so these are given here.
        defaults = {"max_queries": 50000, "max_inactive_connection_lifetime": 300.0, "loop": None}
        classes = {"connection_class": asyncpg.Connection, "record_class": asyncpg.Record}
        super().__init__(dsn, max_size=max_size, **(defaults | classes | options))
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


def statement_timeout(settings: Settings) -> dict[str, str] | None:
    """server_settings for DB_STATEMENT_TIMEOUT; none if the URL sets its own (the URL wins, as with psycopg)."""
    if "statement_timeout" in settings.database_url:
        return None
    return {"statement_timeout": settings.statement_timeout_ms}


async def first_contact(pool: asyncpg.Pool, database_url: str) -> None:
    """One query at start: a database that is down only starts an outage (one log line), and the server starts;
    a wrong URL, password or database name raises DatabaseUnavailable (one line, exit code 3)."""
    try:
        await pool.fetchval(PING)
    except (*CONNECT_ERRORS, ValueError) as error:
        if database_unavailable(error) and not isinstance(error, ValueError):  # ValueError: a URL asyncpg cannot read
            OUTAGE.failed(error)
        else:
            raise DatabaseUnavailable(unreachable_message(database_url, error)) from None
