"""Every app gives up a database connection a network cut left silent, and answers 503 in bounded time.

Flask and Django run on libpq, which puts no time limit on a query: over a cut link the kernel retransmits
for about fifteen minutes before it reports the loss. TCP's own checks, libpq's tcp_user_timeout and
keepalives (Settings.libpq_time_limits in products_db/config.py), bound that, but only when packets really
go missing: so the app reaches Postgres across a real link, which the test sets down
(tests/cuttable_route.py). aiohttp and Starlette (`counter`: the Starlette app in one process) give up
through asyncpg's command_timeout (products_db/pool.py), which test_silent_network.py checks with a proxy;
here they meet a real cut too. The cut comes at two moments: before the query is sent (nothing the app
sends is acknowledged), and while Postgres holds the query (it went through, then nothing comes back).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest

from products_db.config import SILENCE_MARGIN
from tests.conftest import query
from tests.cuttable_route import CuttableRoute
from tests.figures import record
from tests.products_db.test_logs import UNAVAILABLE

STATEMENT_TIMEOUT = 2.0
ENV = {"DB_POOL_SIZE": "1", "DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT), "DB_ACQUIRE_TIMEOUT": "5"}
# The cut is noticed within the silence limit (statement timeout + margin), plus one keepalive
# interval when it comes while Postgres holds the query; plus slack for a busy machine.
BOUND = STATEMENT_TIMEOUT + SILENCE_MARGIN + 1 + 4

# One process each (one sync worker for Flask) and a pool of one, so that the request after the cut
# meets the connection the first one opened.
COMMANDS = [("flask", "--workers 1"), ("django-asgi", ""), ("aiohttp", ""), ("counter", "")]


def get_brands(base_url: str) -> tuple[float, httpx.Response | Exception]:
    """GET /brands: how long it took, and the answer (or what stopped it: no answer within 3 x BOUND)."""
    began = time.monotonic()
    try:
        answer: httpx.Response | Exception = httpx.get(f"{base_url}/brands", timeout=3 * BOUND)
    except httpx.HTTPError as error:
        answer = error
    return time.monotonic() - began, answer


def assert_unavailable(name: str, elapsed: float, answer: httpx.Response | Exception) -> None:
    assert isinstance(answer, httpx.Response), f"{name}: no answer after {elapsed:.1f} s: {answer!r}"
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert answer.json() == UNAVAILABLE
    assert elapsed < BOUND, f"{name}: answered 503 after {elapsed:.1f} s"


def assert_recovers(base_url: str, deadline: float = 30.0) -> None:
    """Once the link is back, a fresh connection serves: a 200 within `deadline` seconds."""
    give_up = time.monotonic() + deadline
    statuses = []
    while time.monotonic() < give_up:
        _, answer = get_brands(base_url)
        statuses.append(getattr(answer, "status_code", repr(answer)))
        if statuses[-1] == 200:
            return
        time.sleep(0.5)
    pytest.fail(f"no 200 within {deadline:g} s of the link coming back: {statuses}")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "extra"), COMMANDS)
def test_a_cut_before_the_query_is_answered_503_in_bounded_time(
    start_server, cuttable_route: CuttableRoute, name: str, extra: str
) -> None:
    with start_server(name, env=ENV, database_url=cuttable_route.database_url, extra_args=extra) as server:
        assert get_brands(server.url)[1].status_code == 200  # the pool's connection is open, through the link

        cuttable_route.cut()
        elapsed, answer = get_brands(server.url)
        assert_unavailable(name, elapsed, answer)
        record("cut-network", f"`{name}`: the link cut before the query, 503 after", elapsed, "s")

        cuttable_route.restore()
        assert_recovers(server.url)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "extra"), COMMANDS)
def test_a_cut_while_postgres_holds_the_query_is_answered_503_in_bounded_time(
    start_server, database_url: str, cuttable_route: CuttableRoute, name: str, extra: str
) -> None:
    with start_server(name, env=ENV, database_url=cuttable_route.database_url, extra_args=extra) as server:
        assert get_brands(server.url)[1].status_code == 200

        # The test's own connection (not through the link) locks the table: the app's query reaches
        # Postgres, is acknowledged, and waits. Then the link goes down, and no answer can come back.
        locker = psycopg2.connect(database_url)
        try:
            with locker.cursor() as cursor:
                cursor.execute("LOCK TABLE brand IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(1) as pool:
                request = pool.submit(get_brands, server.url)
                waiting_for_lock(database_url)
                cuttable_route.cut()
                locker.rollback()  # Postgres runs the query now; its answer stops at the cut link
                elapsed, answer = request.result()
        finally:
            locker.close()
        assert_unavailable(name, elapsed, answer)
        record("cut-network", f"`{name}`: the link cut while Postgres held the query, 503 after", elapsed, "s")

        cuttable_route.restore()
        assert_recovers(server.url)


WAITING_FOR_LOCK = "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%brand%'"


def waiting_for_lock(database_url: str, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if query(database_url, WAITING_FOR_LOCK):
            return
        time.sleep(0.05)
    pytest.fail(f"the app's query was not waiting for the table lock within {timeout:g} s")
