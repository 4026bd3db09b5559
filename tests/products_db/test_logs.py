"""Errors in the logs: every REST server, under its documented command, logs a 500, a 503 and a failed start alike.

One format everywhere (products_db/logs.py): a 500 is a line and its traceback,
a 503 one line, a start-up failure one line; all on stderr. Each test prints the
line it found, so `pytest -s` shows what a deployer will read.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg2
import pytest

from devenv import embedded, servers
from products_db.schema import prepare
from tests.conftest import log_lines
from tests.contract.conftest import CONTRACT_SERVERS, SERVER_ENV

SERVERS = [*CONTRACT_SERVERS, "django-wsgi"]
ENV = {**SERVER_ENV, "django-wsgi": SERVER_ENV["django-asgi"]}
# Worker processes of the servers that open an asyncpg pool at start-up, each trying
# the database once (products_db/pool.py first_contact); Flask and Django connect on
# their first request.
POOL_WORKERS = {
    "aiohttp": 1,
    "aiohttp-gunicorn": int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1)),
    "starlette": 8,
    "starlette-gunicorn": 2,
}
UNAVAILABLE = {"error": "the database is unavailable, try again later"}


def port_of(url: str) -> int:
    return urlsplit(url).port or 5432


def wait_for_pools(server: servers.RunningServer, database_url: str, timeout: float = 60) -> None:
    """Until every worker has opened its pool and made its first contact: each then holds a connection.

    A worker still starting when the database stops would log the outage at start, not on a request.
    """
    workers = POOL_WORKERS.get(server.command.name, 0)
    port = port_of(database_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        root = psutil.Process(server.process.pid)
        pooled = 0
        for process in [root, *root.children(recursive=True)]:
            try:
                connections = process.net_connections("tcp")
            except psutil.NoSuchProcess:
                continue
            pooled += any(c.raddr and c.raddr.port == port for c in connections)
        if pooled >= workers:
            return
        time.sleep(0.2)
    raise AssertionError(f"{server.command.name}: {pooled} of {workers} workers opened their pools")


@pytest.fixture(scope="session")  # once per worker: its tests may run on several
def renamed_column_database(database_url: str) -> Iterator[str]:
    """A database of its own whose product table no longer has the column the apps select: a migration they missed."""
    name = "products_renamed_column"
    admin = psycopg2.connect(urlsplit(database_url)._replace(path="/postgres").geturl())
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {name}")
        url = urlsplit(database_url)._replace(path=f"/{name}").geturl()
        asyncio.run(prepare(url))
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute("ALTER TABLE product RENAME COLUMN product_name TO name")
        connection.close()
        yield url
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        admin.close()


@pytest.mark.parametrize("name", SERVERS)
def test_a_500_is_logged_once_with_its_traceback(name: str, start_server, renamed_column_database: str) -> None:
    with start_server(name, database_url=renamed_column_database, env=ENV.get(name, {})) as server:
        response = httpx.get(f"{server.url}/products/1", timeout=30)
        assert response.status_code == 500
        assert response.json() == {"error": "internal server error"}
        time.sleep(0.5)  # the log line may follow the answer by a moment
        output = server.log()
    errors = log_lines(output)
    assert len(errors) == 1 and "/products/1" in errors[0]["message"], output
    lines = output.splitlines()
    after = lines[lines.index(errors[0].string) + 1]
    assert after.startswith("Traceback (most recent call last):"), output
    assert re.search(r'column "?(product\.)?product_name"? does not exist', output), output
    # Not logged a second time by the server in its own format (uvicorn's "ERROR:", gunicorn's "[ERROR]").
    assert not [line for line in lines if line.startswith("ERROR:") or "[ERROR]" in line], output
    print(f"\n{name} 500: {errors[0].string}")


@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
def test_a_503_is_one_line_without_a_traceback(
    name: str, start_server, stoppable_database: tuple[Path, int, str]
) -> None:
    data_dir, _, url = stoppable_database
    with (
        start_server(name, database_url=url, env=ENV.get(name, {})) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.get("/readyz").json() == {"status": "ready"}
        wait_for_pools(server, url)
        embedded.stop(data_dir)  # Postgres stops, the server keeps running
        for path in ("/brands", "/products/1", "/readyz"):
            response = client.get(path, headers={"Connection": "close"})
            assert response.status_code == 503, path
            assert response.json() == UNAVAILABLE
        alive = client.get("/healthz")  # alive needs no database
        assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
        time.sleep(0.5)
        output = server.log()
    assert "Traceback" not in output
    errors = log_lines(output)
    assert errors, output
    for line in errors:
        assert line["message"].startswith(("database unavailable: ", "cannot use the database at ")), line.string
    print(f"\n{name} 503: {errors[-1].string}")


# A misspelt parameter in DATABASE_URL: libpq refuses it before connecting (Flask,
# Django), Postgres refuses it as an unknown setting when asyncpg connects.
MISSPELT = "sslmod"


# One gunicorn worker: when several fail to boot at the same moment, gunicorn's
# arbiter can raise its own HaltServer a second time while halting and print that
# traceback (a race in gunicorn, not in the app; see tests/starlette_app/test_rest.py).
ONE_WORKER = {"flask": "-w 1", "starlette-gunicorn": "--workers 1"}


@pytest.mark.parametrize("name", SERVERS)
def test_a_failed_start_is_one_line(name: str, database_url: str) -> None:
    code, output = servers.run_to_exit(name, f"{database_url}?{MISSPELT}=require", ONE_WORKER.get(name, ""))
    if name != "starlette":
        assert code != 0, output  # (uvicorn with --workers exits 0 when its workers fail to start)
    assert "Traceback" not in output, output
    errors = log_lines(output)
    assert errors and all(MISSPELT in line["message"] for line in errors), output
    print(f"\n{name} start-up failure: {errors[0].string}")


@pytest.mark.parametrize("name", ["django-asgi", "django-wsgi"])
def test_django_without_a_secret_key_is_one_line(name: str, database_url: str) -> None:
    code, output = servers.run_to_exit(name, database_url, env={"SECRET_KEY": ""})
    assert code == 3, output  # gunicorn: "Worker failed to boot"
    assert "Traceback" not in output, output
    [error] = {line["message"] for line in log_lines(output)}
    assert error.startswith("set SECRET_KEY"), output
    print(f"\n{name} start-up failure: {log_lines(output)[0].string}")
