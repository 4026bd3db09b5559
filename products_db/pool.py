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


async def create_pool(settings: Settings) -> asyncpg.Pool:
    # min_size == max_size: every connection is opened now, so a wrong URL fails
    # at start-up rather than on the first request, and no request pays for a connect.
    try:
        return await asyncpg.create_pool(
            settings.database_url, min_size=settings.pool_size, max_size=settings.pool_size, timeout=10
        )
    except CONNECT_ERRORS as error:
        raise DatabaseUnavailable(unreachable_message(settings.database_url, error)) from None
