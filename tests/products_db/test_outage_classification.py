"""Which errors mean "the database is unavailable", in-process, with the errors each driver raises from a real Postgres.

An error a retry later can cure (the network, a timeout, the server stopping, starting or full) starts an outage
and a 503; any other error (a bad query, a lock refused, a database that does not exist) is the app's 500.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import django.db.utils
import psycopg
import psycopg2
import psycopg2.errors
import pytest

from devenv.embedded import free_port
from products_db import outage
from products_db.outage import Outage, PoolFailures, database_unavailable, sqlstate

LOCK_REFUSED = "SELECT * FROM brand WHERE brand_id = 1 FOR UPDATE NOWAIT"
CANCELLED = "SET statement_timeout = 1; SELECT pg_sleep(1)"
# What each driver makes Postgres answer, and whether it is an outage (SQLSTATE and its class).
STATEMENTS = [
    pytest.param("SELECT 1 / 0", "22012", False, id="division by zero"),
    pytest.param("SELECT * FROM no_such_table", "42P01", False, id="no such table"),
    # A lock refused is said by the server, in class 55: psycopg's OperationalError says nothing more.
    pytest.param(LOCK_REFUSED, "55P03", False, id="lock refused"),
    pytest.param(CANCELLED, "57014", True, id="statement cancelled"),
]


def psycopg2_error(url: str, sql: str) -> BaseException:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except psycopg2.Error as error:
        return error
    finally:
        connection.close()
    raise AssertionError(f"{sql} went through")


def psycopg3_error(url: str, sql: str) -> BaseException:
    with psycopg.connect(url) as connection:
        try:
            for statement in sql.split(";"):
                connection.execute(statement.encode())
        except psycopg.Error as error:
            return error
    raise AssertionError(f"{sql} went through")


async def asyncpg_error(url: str, sql: str) -> BaseException:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    except asyncpg.PostgresError as error:
        return error
    finally:
        await connection.close()
    raise AssertionError(f"{sql} went through")


async def while_brand_1_is_locked(url: str, failing: Callable[[], Awaitable[BaseException]]) -> BaseException:
    """What failing() returns while another connection holds a row lock on brand 1 (for NOWAIT to be refused).

    NO KEY UPDATE: a product inserted meanwhile for brand 1 (its foreign key check) does not wait for it.
    """
    holder = await asyncpg.connect(url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT * FROM brand WHERE brand_id = 1 FOR NO KEY UPDATE")
            return await failing()
    finally:
        await holder.close()


@pytest.mark.parametrize(("sql", "code", "unavailable"), STATEMENTS)
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg2", "psycopg"])
async def test_the_servers_class_decides(
    database_url: str, driver: str, sql: str, code: str, unavailable: bool
) -> None:
    async def failing() -> BaseException:
        if driver == "asyncpg":
            return await asyncpg_error(database_url, sql)
        call = psycopg2_error if driver == "psycopg2" else psycopg3_error
        return await asyncio.to_thread(call, database_url, sql)

    error = await while_brand_1_is_locked(database_url, failing)
    assert sqlstate(error) == code
    assert database_unavailable(error) is unavailable


async def test_a_closed_port_is_unavailable_for_every_driver(database_url: str) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/products"
    errors: list[BaseException] = []
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(url)
    errors.append(refused.value)
    with pytest.raises(psycopg2.OperationalError) as refused_psycopg2:
        psycopg2.connect(url)
    errors.append(refused_psycopg2.value)
    with pytest.raises(psycopg.OperationalError) as refused_psycopg:
        psycopg.connect(url)
    errors.append(refused_psycopg.value)
    assert [sqlstate(error) for error in errors] == [None, None, None]
    assert [database_unavailable(error) for error in errors] == [True, True, True]


async def test_a_database_that_does_not_exist_is_not_an_outage(database_url: str) -> None:
    with pytest.raises(asyncpg.InvalidCatalogNameError) as missing:
        await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/no_such_database")
    assert sqlstate(missing.value) == "3D000"
    assert not database_unavailable(missing.value)


async def test_a_role_out_of_connections_is_unavailable(database_url: str) -> None:
    """53300, too many connections (class 53, insufficient resources): a retry later may find a free one."""
    role = f"full_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        with pytest.raises(asyncpg.TooManyConnectionsError) as full:
            await asyncpg.connect(database_url, user=role)
        assert sqlstate(full.value) == "53300"
        assert database_unavailable(full.value)
    finally:
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def terminated_while_sleeping(url: str, sleep: Callable[[], Awaitable[Any]], pid: int) -> BaseException:
    """What sleep() raises when the server ends its session (pg_terminate_backend, as a stopping server does)."""
    sleeping = asyncio.ensure_future(sleep())
    killer = await asyncpg.connect(url)
    try:
        for _ in range(1000):  # until the query is in pg_sleep: 10 s at most
            if await killer.fetchval("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.01)
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    with pytest.raises(Exception) as ended:
        await sleeping
    return ended.value


async def test_a_session_the_server_ends_is_unavailable(database_url: str) -> None:
    """asyncpg says the connection does not exist (08003, class 08), then raises its own InterfaceError (no
    SQLSTATE) on every later use; psycopg2 its OperationalError, "server closed the connection unexpectedly"."""
    connection = await asyncpg.connect(database_url)
    try:
        ended = await terminated_while_sleeping(
            database_url, lambda: connection.execute("SELECT pg_sleep(30)"), connection.get_server_pid()
        )
        with pytest.raises(asyncpg.InterfaceError) as closed:
            await connection.fetchval("SELECT 1")
    finally:
        connection.terminate()
    assert isinstance(ended, asyncpg.ConnectionDoesNotExistError) and sqlstate(ended) == "08003"
    assert sqlstate(closed.value) is None
    assert database_unavailable(ended) and database_unavailable(closed.value)

    sync_connection = psycopg2.connect(database_url)
    try:
        with sync_connection.cursor() as cursor:
            sleep = asyncio.to_thread(cursor.execute, "SELECT pg_sleep(30)")
            ended = await terminated_while_sleeping(database_url, lambda: sleep, sync_connection.get_backend_pid())
    finally:
        sync_connection.close()
    assert type(ended) is psycopg2.OperationalError and sqlstate(ended) is None
    assert database_unavailable(ended)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ConnectionFailureError("connection failure"),  # 08006
        asyncpg.CannotConnectNowError("the database system is starting up"),  # 57P03
        asyncpg.InternalClientError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        psycopg2.InterfaceError("connection already closed"),
        psycopg.InterfaceError("the connection is closed"),
        django.db.utils.OperationalError("server closed the connection unexpectedly"),
        django.db.utils.InterfaceError("connection already closed"),
        TimeoutError("no database connection free within 10 s"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_driver_and_network_errors_without_an_answer_are_unavailable(error: BaseException) -> None:
    assert database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        KeyError("product_name"),
        asyncpg.UniqueViolationError("duplicate key"),
        psycopg2.DataError("invalid input syntax"),
        psycopg.ProgrammingError("syntax error"),
        django.db.utils.DataError("invalid input syntax"),
        django.db.utils.IntegrityError("duplicate key"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_of_the_query_or_the_code_are_not(error: BaseException) -> None:
    assert not database_unavailable(error)


async def test_a_wrapper_is_judged_by_the_error_it_wraps(database_url: str) -> None:
    """As Django raises its own error `from` the driver's: the cause decides, at any depth."""
    cancelled = await asyncpg_error(database_url, CANCELLED)
    refused = await while_brand_1_is_locked(database_url, lambda: asyncpg_error(database_url, LOCK_REFUSED))

    def wrapped(cause: BaseException, depth: int) -> BaseException:
        error = cause
        for level in range(depth):
            outer = RuntimeError(f"wrapper {level}")
            outer.__cause__ = error
            error = outer
        return error

    for depth in (1, 3):
        assert database_unavailable(wrapped(cancelled, depth))
        assert not database_unavailable(wrapped(refused, depth))
        assert database_unavailable(wrapped(ConnectionRefusedError(111, "Connection refused"), depth))
        assert not database_unavailable(wrapped(ValueError("a bug"), depth))
    # Only the cause counts, not the context an error was raised in.
    in_handling = RuntimeError("while handling")
    in_handling.__context__ = cancelled
    assert not database_unavailable(in_handling)


class Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))


def pool_record(error: BaseException | None) -> logging.LogRecord:
    exc_info: Any = (type(error), error, None) if error is not None else None
    return logging.LogRecord("asyncpg.pool", logging.ERROR, __file__, 1, "failed to connect", None, exc_info)


def test_a_pools_reconnect_failure_joins_the_outage_instead_of_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    state = Outage()
    monkeypatch.setattr(outage, "OUTAGE", state)
    recorded = Recorded()
    logging.getLogger("products_db.outage").addHandler(recorded)
    try:
        cut = ConnectionRefusedError(111, "Connect call failed")
        assert PoolFailures().filter(pool_record(cut)) is False
        assert PoolFailures().filter(pool_record(cut)) is False
        assert state.down and state.outages == 1
    finally:
        logging.getLogger("products_db.outage").removeHandler(recorded)
    assert recorded.lines == [("ERROR", "database unavailable: [Errno 111] Connect call failed")]


@pytest.mark.parametrize("error", [None, ValueError("a bug in a setup callback")], ids=["no error", "other error"])
def test_a_pools_other_records_pass(monkeypatch: pytest.MonkeyPatch, error: BaseException | None) -> None:
    state = Outage()
    monkeypatch.setattr(outage, "OUTAGE", state)
    assert PoolFailures().filter(pool_record(error)) is True
    assert not state.down and state.outages == 0
