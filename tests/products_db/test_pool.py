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
    """A newcomer ready to run at the very moment the connection comes back must still queue behind the waiters.

    asyncpg puts a returned connection in its queue and wakes the first waiter; the waiter runs on a later
    step of the event loop, and a coroutine that asks in between takes the connection first. Here the
    newcomer is made ready exactly then: its step is scheduled just before the waiter's, every time.
    """
    pool = await create_pool(Settings(database_url, pool_size=1))
    served: list[str] = []
    returned = asyncio.Event()
    put_back = pool._queue.put_nowait  # where asyncpg returns a connection and wakes its first waiter

    def newcomer_first(holder: object) -> None:
        returned.set()  # schedules the newcomer's next step...
        put_back(holder)  # ...before the step of the waiter this wakes

    pool._queue.put_nowait = newcomer_first  # type: ignore[method-assign]

    async def request(name: str) -> None:
        async with pool.acquire() as connection:
            served.append(name)
            await connection.fetchval("SELECT 1")

    async def newcomer() -> None:
        await returned.wait()
        await request("newcomer")

    try:
        async with pool.acquire():  # the only connection is busy
            waiting = [asyncio.create_task(request(f"waiting {i}")) for i in range(5)]
            late = asyncio.create_task(newcomer())
            for _ in range(5):  # loop steps, not time: each task reaches its wait in one or two
                await asyncio.sleep(0)
            assert not served and not returned.is_set()
        await asyncio.gather(*waiting, late)
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
