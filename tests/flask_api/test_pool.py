"""flask_api's pool: opened per gunicorn worker after the fork, one statement per round trip, 503 when down."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg2.extensions
import pytest

from devenv.embedded import free_port
from flask_api import db
from products_db.config import Settings
from products_db.rules import NewProduct, UnknownBrand
from tests.conftest import query

# The pool of listing 9.5, opened in each gunicorn worker.
pytestmark = pytest.mark.listing("9.5")

APP_NAME = "flask_api pid %"


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def wait_for_workers(master: int, count: int, timeout: float = 30) -> set[int]:
    """The server answers as soon as its first worker is up; the others boot one after another."""
    deadline = time.monotonic() + timeout
    while len(workers := children_of(master)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == count, workers
    return workers


def connection_owners(database_url: str) -> Counter[int]:
    rows = query(database_url, "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE %s", APP_NAME)
    return Counter(int(row["application_name"].rsplit(" ", 1)[1]) for row in rows)


# --preload imports the app in the master before the fork: a pool opened at
# import would then belong to the master and be shared by all 8 workers.
@pytest.mark.parametrize("extra_args", ["", "--preload"])
def test_each_worker_opens_its_own_pool_after_the_fork(start_server, database_url: str, extra_args: str) -> None:
    with start_server("flask", extra_args=extra_args) as server:  # gunicorn -w 8, as documented
        master = server.process.pid
        workers = wait_for_workers(master, 8)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            with ThreadPoolExecutor(max_workers=16) as pool:
                statuses = list(pool.map(lambda _: client.get("/brands").status_code, range(200)))
            assert statuses == [200] * 200
            assert children_of(master) == workers  # none died and was replaced meanwhile
            owners = connection_owners(database_url)
    # The master never connected: nothing was opened before the fork to be shared.
    assert master not in owners
    ours = {pid: n for pid, n in owners.items() if pid in workers}
    # Several workers served requests, each through a connection it opened itself;
    # a sync worker serves one request at a time, so its pool holds one connection.
    assert len(ours) >= 2, owners
    assert set(ours.values()) == {1}, owners


def test_a_failed_statement_leaves_the_connection_usable(database_url: str) -> None:
    database = db.Database(Settings(database_url, pool_size=1))  # one connection: every call reuses it
    try:
        with pytest.raises(UnknownBrand):
            db.create_product(database, NewProduct("no such brand", 999_999))
        with database.connection() as connection:
            # A failed statement in an open transaction would leave it INERROR, failing every later query.
            assert connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        assert len(json.loads(db.brands_json(database))) == 100
    finally:
        database.close()


def test_each_statement_commits_on_its_own(database_url: str) -> None:
    # Autocommit: a request is one round trip, with no BEGIN before it, no COMMIT
    # after it, and no connection left "idle in transaction" between requests.
    database = db.Database(Settings(database_url, pool_size=1))
    name = "committed by its own statement"
    try:
        created = db.create_product(database, NewProduct(name, 1))
        with database.connection() as connection:
            assert connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        # Another session sees the row at once: nothing waits for a commit.
        found = query(database_url, "SELECT product_id FROM product WHERE product_name = %s", name)
        assert found == [{"product_id": created["product_id"]}]
    finally:
        database.close()


def backend_pid(database: db.Database) -> int:
    with database.connection() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_forked_child_opens_its_own_connection(database_url: str) -> None:
    database = db.Database(Settings(database_url, pool_size=1))
    try:
        parent_backend = backend_pid(database)
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.write(write_end, str(backend_pid(database)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        child_backend = int(os.read(read_end, 64) or b"0")
        os.close(read_end)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert child_backend not in (0, parent_backend)
        # The parent's connection was left alone by the child and still works.
        assert backend_pid(database) == parent_backend
    finally:
        database.close()


def test_one_worker_reuses_its_connection_after_errors(start_server) -> None:
    with start_server("flask", extra_args="-w 1") as server, httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            response = client.post("/product", json={"product_name": "x", "brand_id": 999_999})
            assert response.status_code == 400
            assert client.get("/brands").status_code == 200


def test_threads_wait_for_a_free_connection(start_server) -> None:
    # 8 threads in one worker share 2 connections: the others must wait, not fail.
    threaded = start_server("flask", extra_args="-w 1 --threads 8", env={"DB_POOL_SIZE": "2"})
    with threaded as server, httpx.Client(base_url=server.url, timeout=30) as client:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda _: client.get("/products/1").status_code, range(100)))
    assert statuses == [200] * 100


def sessions_opened(database_url: str) -> int:
    """Postgres counts every session ever opened on the database (PostgreSQL 14+)."""
    return query(database_url, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")[0][
        "sessions"
    ]


def test_threads_reuse_pooled_connections(start_server, database_url: str) -> None:
    # psycopg2 closes a returned connection beyond minconn: without raising it,
    # most requests under --threads would open a new connection to Postgres.
    threaded = start_server("flask", extra_args="-w 1 --threads 8", env={"DB_POOL_SIZE": "4"})
    with threaded as server, httpx.Client(base_url=server.url, timeout=30) as client:
        with ThreadPoolExecutor(max_workers=16) as pool:
            assert set(pool.map(lambda _: client.get("/products/1").status_code, range(50))) == {200}
            before = sessions_opened(database_url)
            assert set(pool.map(lambda _: client.get("/products/1").status_code, range(300))) == {200}
        # At most the pool's 4 connections (and the two queries of this test) may be new.
        assert sessions_opened(database_url) - before <= 4 + 2
        assert sum(connection_owners(database_url).values()) <= 4


def test_a_connection_killed_by_the_server_is_dropped(start_server, database_url: str) -> None:
    with start_server("flask", extra_args="-w 1") as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/products/1").status_code == 200
        [worker] = children_of(server.process.pid)
        killed = query(
            database_url,
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = %s",
            f"flask_api pid {worker}",
        )
        assert [row["ok"] for row in killed] == [True]
        failed = client.get("/products/1")  # this request finds the dead connection
        assert failed.status_code == 503
        assert failed.json() == {"error": "the database is unavailable, try again later"}
        assert client.get("/products/1").status_code == 200  # a fresh connection replaced it
    assert "Traceback" not in server.log()


def test_unreachable_database_is_a_json_503_and_one_log_line(start_server) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/products"  # nothing listens there
    server_down = start_server("flask", database_url=url, extra_args="-w 1")
    with server_down as server, httpx.Client(base_url=server.url) as client:
        for path in ("/brands", "/products/1", "/brands"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("application/json")
            assert response.json() == {"error": "the database is unavailable, try again later"}
        # Bad input is still answered without the database.
        assert client.get("/products/abc").status_code == 400
    log = server.log()
    assert log.count("cannot use the database at") == 1, log
    assert "Traceback" not in log
