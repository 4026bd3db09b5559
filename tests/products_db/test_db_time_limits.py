"""DB_ACQUIRE_TIMEOUT and DB_STATEMENT_TIMEOUT: a request stuck on the database is answered 503, never held for ever.

A transaction of the test's own locks the brand table, so every GET /brands waits on Postgres. With one
connection per process, the first request holds it until Postgres cancels its statement
(DB_STATEMENT_TIMEOUT); a second one in the same process waits for that connection until
DB_ACQUIRE_TIMEOUT. Both must be answered 503 long before the lock goes away.
"""

from __future__ import annotations

import threading
import time

import httpx
import psycopg2
import pytest

from devenv import servers
from devenv.servers import RunningServer
from tests.figures import record
from tests.products_db.test_logs import ONE_WORKER

APPS = ["aiohttp", "flask", "starlette", "django-asgi"]
LIMITS = {"DB_POOL_SIZE": "1", "DB_ACQUIRE_TIMEOUT": "1", "DB_STATEMENT_TIMEOUT": "2"}
DJANGO_ENV = {"SECRET_KEY": "test-only-secret-key-for-the-time-limit-tests-0123456789"}
LOCK_HELD_S = 12.0  # how long the lock would last: every answer must come well before


def get_brands_in_threads(server: RunningServer, count: int) -> list[tuple[float, httpx.Response | Exception]]:
    results: list[tuple[float, httpx.Response | Exception]] = []

    def one() -> None:
        began = time.monotonic()
        try:
            answer: httpx.Response | Exception = httpx.get(f"{server.url}/brands", timeout=LOCK_HELD_S + 10)
        except httpx.HTTPError as error:
            answer = error
        results.append((time.monotonic() - began, answer))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LOCK_HELD_S + 15)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", APPS)
def test_a_request_stuck_on_a_lock_is_answered_503(start_server, database_url: str, name: str) -> None:
    env = {**LIMITS, **(DJANGO_ENV if name.startswith("django") else {})}
    with start_server(name, env=env) as server:
        httpx.get(f"{server.url}/brands", timeout=10).raise_for_status()  # every process has its connection
        locker = psycopg2.connect(database_url)
        try:
            with locker.cursor() as cursor:
                cursor.execute("LOCK TABLE brand IN ACCESS EXCLUSIVE MODE")
            results = get_brands_in_threads(server, 2)
        finally:
            locker.rollback()
            locker.close()
        assert len(results) == 2, results
        for elapsed, answer in results:
            assert isinstance(answer, httpx.Response), answer
            assert answer.status_code == 503, (answer.status_code, answer.text)
            assert answer.json() == {"error": "the database is unavailable, try again later"}
            assert elapsed < LOCK_HELD_S / 2, f"answered after {elapsed:.1f} s: the limits did not apply"
        for what, (elapsed, _) in zip(("first", "second"), sorted(results, key=lambda r: r[0]), strict=True):
            record("time-limits", f"`{name}`: the {what} `GET /brands` answered 503 after", elapsed, "s")
        # The lock is gone: the same server answers again, with no restart.
        assert httpx.get(f"{server.url}/brands", timeout=10).status_code == 200


@pytest.mark.parametrize("variable", ["DB_STATEMENT_TIMEOUT", "BODY_TIMEOUT"])
@pytest.mark.parametrize("name", APPS)
def test_a_bad_time_limit_stops_the_server_with_one_line(name: str, variable: str, database_url: str) -> None:
    env = {variable: "soon", **(DJANGO_ENV if name.startswith("django") else {})}
    # One worker, as in test_logs.py: with several, gunicorn's master may print its own traceback as it halts.
    code, output = servers.run_to_exit(name, database_url, ONE_WORKER.get(name, ""), env=env)
    if name != "starlette":
        assert code != 0, output  # (uvicorn with --workers exits 0 when its workers fail to start)
    assert "Traceback" not in output
    assert f"{variable} must be a positive number, got 'soon'" in output
