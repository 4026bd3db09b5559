"""The apps' asyncpg pool: connections go to waiting requests in arrival order, and nothing is reset on release.

FairPool's own behaviour is tested on a FairPool built here; the options the apps give it (time limits,
the first contact at start) on the pool each app opens, as its app.py spells them out.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from aiohttp import web

import aiohttp_api.app
import starlette_app.app
from aiohttp_api.keys import POOL, SETTINGS
from devenv.embedded import free_port
from products_db import outage
from products_db import pool as pool_module
from products_db.config import DatabaseUnavailable, Settings
from products_db.outage import SETTLING, Outage
from products_db.pool import FairPool, first_contact, keep_session
from tests.silent_proxy import SilenceableProxy

# The pool of listings 9.2 (aiohttp) and 9.8 (Starlette).
pytestmark = pytest.mark.listing("9.2", "9.8")

APPS = ["aiohttp", "starlette"]


def create_pool(settings: Settings, min_size: int | None = None) -> FairPool:
    """A FairPool of `settings.pool_size` connections; `await` opens them (min_size of them, all by default)."""
    return FairPool(
        settings.database_url,
        min_size=settings.pool_size if min_size is None else min_size,
        max_size=settings.pool_size,
        acquire_timeout=settings.acquire_timeout,
        reset=keep_session,
    )


@asynccontextmanager
async def apps_pool(app: str, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The pool `app` opens when it starts (aiohttp's cleanup context, Starlette's lifespan)."""
    if app == "aiohttp":
        application = web.Application()
        application[SETTINGS] = settings
        started = aiohttp_api.app.database_pool(application)
        await anext(started)
        try:
            yield application[POOL]
        finally:
            await anext(started, None)
    else:
        starlette = starlette_app.app.create_app(settings)
        async with starlette.router.lifespan_context(starlette) as state:
            yield state["pool"]  # type: ignore[index]


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


async def test_a_request_that_finds_no_free_connection_in_time_gets_a_timeout(database_url: str) -> None:
    pool = await create_pool(Settings(database_url, pool_size=1, acquire_timeout=0.2))
    try:
        async with asyncio.timeout(10), pool.acquire():
            with pytest.raises(TimeoutError, match=r"^no database connection free within 0\.2 s$"):
                async with pool.acquire():
                    pass
        assert await pool.fetchval("SELECT 1") == 1  # the turn it waited for was not kept
    finally:
        await pool.close()


async def test_a_query_through_the_pool_ends_an_outage(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    state = Outage()
    monkeypatch.setattr(pool_module, "OUTAGE", state)
    clock = [1000.0]
    monkeypatch.setattr(outage.time, "monotonic", lambda: clock[0])
    pool = await create_pool(Settings(database_url, pool_size=1))
    try:
        state.refused(ConnectionResetError("server closed the connection unexpectedly"))
        clock[0] += SETTLING
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
    assert not state.down


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize(("query", "shown"), [("", "1500ms"), ("?statement_timeout=1234", "1234ms")])
async def test_statements_are_limited_to_the_settings_timeout_unless_the_url_sets_one(
    database_url: str, query: str, shown: str, app: str
) -> None:
    async with apps_pool(app, Settings(database_url + query, pool_size=1, statement_timeout=1.5)) as pool:
        assert await pool.fetchval("SHOW statement_timeout") == shown


@pytest.mark.parametrize("app", APPS)
async def test_an_app_starts_with_no_connection_open(database_url: str, app: str) -> None:
    """min_size=0: the pool connects when a query needs it (the first contact at start opens one)."""
    async with apps_pool(app, Settings(database_url, pool_size=3)) as pool:
        assert pool.get_min_size() == 0 and pool.get_max_size() == 3
        assert pool.get_size() == 1


async def test_a_database_that_is_down_at_start_is_an_outage_not_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = Outage()
    monkeypatch.setattr(pool_module, "OUTAGE", state)
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/products"
    async with create_pool(Settings(url, pool_size=1), min_size=0) as pool:
        await first_contact(pool, url)  # no exception: the server starts
    assert state.down
    # The outage's one line says why: the failed connect to that port, not "None".
    [line] = [record.getMessage() for record in caplog.records if record.name == "products_db.outage"]
    assert line.startswith("database unavailable: ") and "Connect call failed" in line, line


async def test_a_database_that_refuses_this_server_is_one_line_saying_where(database_url: str) -> None:
    url = database_url.rsplit("/", 1)[0] + "/no_such_database"
    async with create_pool(Settings(url, pool_size=1), min_size=0) as pool:
        with pytest.raises(DatabaseUnavailable) as refused:
            await first_contact(pool, url)
    assert re.fullmatch(
        rf'cannot use the database at {url}: database "no_such_database" does not exist \(check DATABASE_URL\)',
        str(refused.value),
    )


@pytest.mark.parametrize("app", APPS)
async def test_a_database_that_never_answers_holds_the_start_for_connect_timeout_at_most(
    monkeypatch: pytest.MonkeyPatch, app: str
) -> None:
    monkeypatch.setattr(aiohttp_api.app, "CONNECT_TIMEOUT", 0.3)
    monkeypatch.setattr(starlette_app.app, "CONNECT_TIMEOUT", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as mute:  # listens, accepts (in the kernel), never says a word
        url = f"postgresql://postgres@127.0.0.1:{mute.getsockname()[1]}/products"
        started = time.monotonic()
        async with asyncio.timeout(30), apps_pool(app, Settings(url, pool_size=1)) as pool:
            assert time.monotonic() - started < 5  # 0.3 s, on a slow machine more
            with pytest.raises(TimeoutError):
                await pool.fetchval("SELECT 1")


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
async def test_a_query_on_a_silent_connection_gives_up_after_the_silence_limit(
    silent_proxy: tuple[SilenceableProxy, str], app: str
) -> None:
    """A network cut leaves a connection silent: no answer, no error. The query gives up after silence_limit
    (2.1 s here, and as long again for asyncpg's cancel), instead of waiting as long as TCP does."""
    silenceable, proxy_url = silent_proxy
    async with apps_pool(app, Settings(proxy_url, pool_size=1, statement_timeout=0.1)) as pool:
        try:
            assert silenceable.silence() == 1
            async with asyncio.timeout(10):
                with pytest.raises(TimeoutError):
                    await pool.fetchval("SELECT 1")
        finally:
            pool.terminate()


async def test_closing_gives_up_on_a_silent_connection_after_close_timeout(
    silent_proxy: tuple[SilenceableProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() waits for the queries in flight; one on a silent connection would hold it silence_limit (32 s
    by default): after CLOSE_TIMEOUT the pool is terminated instead, so a server stops on SIGTERM."""
    monkeypatch.setattr(pool_module, "CLOSE_TIMEOUT", 0.5)
    silenceable, proxy_url = silent_proxy
    pool = await create_pool(Settings(proxy_url, pool_size=1))
    assert silenceable.silence() == 1
    in_flight = asyncio.create_task(pool.fetchval("SELECT 1"))
    for _ in range(100):  # until the query holds the connection (it is sent in the same step): 1 s at most
        await asyncio.sleep(0.01)
        if pool.get_idle_size() == 0:
            break
    try:
        async with asyncio.timeout(10):
            await pool.close()
    finally:
        pool.terminate()
    with pytest.raises((asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, asyncio.CancelledError)):
        await in_flight
