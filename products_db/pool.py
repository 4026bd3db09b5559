"""Opening an asyncpg pool with an error a person can read when the database is wrong or down."""

from __future__ import annotations

import asyncio

import asyncpg

from .config import Settings, unreachable_message

# What a failed connect can raise: refused or unresolvable host (OSError), a
# server that never answers (TimeoutError), bad credentials or a missing
# database (PostgresError), a non-Postgres peer (InterfaceError).
CONNECT_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached at start-up; str() is one line saying why and what to do."""


async def keep_session(connection: asyncpg.Connection) -> None:
    """What the pool does to a connection handed back: nothing beyond asyncpg's own clean-up.

    asyncpg always clears listeners and rolls back a transaction left open. Its
    default reset then runs one more query (RESET ALL, UNLISTEN *, CLOSE ALL,
    pg_advisory_unlock_all()): a second round trip for every request. The apps
    never change session state (no SET, LISTEN, cursors or advisory locks on
    pooled connections), so there is nothing for it to undo.
    """


async def create_pool(settings: Settings) -> asyncpg.Pool:
    # min_size == max_size: every connection is opened now, so a wrong URL fails
    # at start-up rather than on the first request, and no request pays for a connect.
    try:
        return await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.pool_size,
            max_size=settings.pool_size,
            timeout=10,
            reset=keep_session,
        )
    except CONNECT_ERRORS as error:
        raise DatabaseUnavailable(unreachable_message(settings.database_url, error)) from None
