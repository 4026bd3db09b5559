"""The apps' asyncpg pool: connections go to waiting requests in arrival order, and nothing is reset on release."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from products_db.config import Settings
from products_db.pool import create_pool

# The pool of listings 9.2 (aiohttp) and 9.8 (Starlette).
pytestmark = pytest.mark.listing("9.2", "9.8")


async def test_waiting_requests_are_served_in_arrival_order(database_url: str) -> None:
    pool = await create_pool(Settings(database_url, pool_size=1))
    served: list[str] = []

    async def request(name: str) -> None:
        async with pool.acquire() as connection:
            served.append(name)
            await connection.fetchval("SELECT 1")

    try:
        async with pool.acquire():  # the only connection is busy
            waiting = [asyncio.create_task(request(f"waiting {i}")) for i in range(5)]
            await asyncio.sleep(0.05)  # all five are queued now
            # A newcomer that starts in the same moment the connection comes back
            # must queue behind them, not take it.
            newcomer = asyncio.create_task(request("newcomer"))
        await asyncio.gather(*waiting, newcomer)
    finally:
        await pool.close()
    assert served == [f"waiting {i}" for i in range(5)] + ["newcomer"]


async def test_a_returned_connection_keeps_its_session(database_url: str) -> None:
    """No reset query on release: what a handler leaves (here a setting) is still there, so nothing is undone."""
    pool = await create_pool(Settings(database_url, pool_size=1))
    try:
        async with pool.acquire() as connection:
            await connection.execute("SET application_name = 'kept'")
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW application_name") == "kept"
            # asyncpg still rolls back a transaction left open, by itself.
            assert not connection.is_in_transaction()
    finally:
        await pool.close()


async def test_fetch_goes_through_the_fair_queue(database_url: str) -> None:
    pool = await create_pool(Settings(database_url, pool_size=2))
    try:
        assert isinstance(pool, asyncpg.Pool)
        results = await asyncio.gather(*(pool.fetchval("SELECT $1::int", i) for i in range(20)))
        assert results == list(range(20))
    finally:
        await pool.close()
