"""DATABASE_URL read whole: its query string reaches every driver, unix sockets included, under documented commands."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest

from devenv import servers
from devenv.throwaway import throwaway_server
from products_db.config import ConfigError, connect_params
from products_db.schema import prepare
from tests.conftest import query, with_query

# One documented command per app: asyncpg (aiohttp, Starlette), psycopg2 (Flask), Django's backend.
APPS = ["aiohttp", "flask", "starlette", "django-asgi"]

CONNECTIONS_OF = """
    SELECT application_name, client_addr, client_port, wait_event_type FROM pg_stat_activity
    WHERE application_name = %s AND backend_type = 'client backend'
"""


def test_every_libpq_parameter_is_kept() -> None:
    url = (
        "postgresql://app:p%40ss@db.example.com:6543/products"
        "?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem&application_name=shop%20api"
        "&options=-c%20statement_timeout%3D5000&connect_timeout=3"
    )
    assert connect_params(url) == {
        "user": "app",
        "password": "p@ss",
        "host": "db.example.com",
        "port": "6543",
        "dbname": "products",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/db-ca.pem",
        "application_name": "shop api",
        "options": "-c statement_timeout=5000",
        "connect_timeout": "3",
    }


def test_a_unix_socket_folder_is_the_host() -> None:
    params = connect_params("postgresql://postgres@/products?host=/run/postgresql")
    assert params == {"user": "postgres", "dbname": "products", "host": "/run/postgresql"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://u:hunter2@h/db?sslmod=require", 'invalid URI query parameter: "sslmod"'),
        ("mysql://u:hunter2@h/db", "must start with postgresql://"),
    ],
)
def test_a_url_libpq_cannot_read_is_a_one_line_config_error(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        connect_params(url)
    assert reason in str(raised.value)
    assert "hunter2" not in str(raised.value) and "\n" not in str(raised.value)


def connections_while_serving(server: servers.RunningServer, database_url: str, name: str) -> list[dict]:
    """The connections named `name` while the server answers GET /brands.

    Django opens a connection per request and closes it with the response, so the
    request is held inside Postgres: a lock on the brand table makes its query wait,
    and the connection is listed meanwhile. Every app is checked the same way.
    """
    locker = psycopg2.connect(database_url)
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE brand IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(httpx.get, f"{server.url}/brands", timeout=30)
            deadline = time.monotonic() + 20
            waiting: list[dict] = []
            while not waiting and time.monotonic() < deadline:
                rows = query(database_url, CONNECTIONS_OF, name)
                waiting = [row for row in rows if row["wait_event_type"] == "Lock"]
                time.sleep(0.05)
            locker.rollback()  # the lock goes, the query runs
            assert answer.result().status_code == 200
    finally:
        locker.close()
    assert waiting, f"no connection named {name!r} waited for the lock"
    return rows


@pytest.mark.parametrize("name", APPS)
def test_application_name_in_the_url_names_every_connection(name: str, start_server, database_url: str) -> None:
    app_name = f"url-test {name}"
    url = with_query(database_url, application_name=app_name.replace(" ", "%20"))
    with start_server(name, database_url=url) as server:
        rows = connections_while_serving(server, database_url, app_name)
    # Flask names its connections after its worker unless the URL says otherwise: the URL wins.
    assert {row["application_name"] for row in rows} == {app_name}


@pytest.fixture(scope="module")
def socket_database() -> Iterator[str]:
    """A server of its own that also listens on a unix socket; its URL is the socket's."""
    with throwaway_server(unix_socket=True) as url:
        asyncio.run(prepare(url))
        yield url


@pytest.mark.parametrize("name", APPS)
def test_a_unix_socket_url_is_used_as_given(name: str, start_server, socket_database: str) -> None:
    assert "?host=/" in socket_database
    app_name = f"socket-test-{name}"
    with start_server(name, database_url=with_query(socket_database, application_name=app_name)) as server:
        rows = connections_while_serving(server, socket_database, app_name)
    # A unix-socket client has no address; a TCP one has 127.0.0.1 and a port.
    assert rows and all(row["client_addr"] is None and row["client_port"] == -1 for row in rows), rows
