"""The aiohttp server commands from the README: /time with or without the database, one line for a wrong database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from devenv import embedded, servers
from tests.conftest import commands, log_lines
from tests.products_db.test_logs import UNAVAILABLE

COMMANDS = ["aiohttp", "aiohttp-gunicorn"]


@pytest.mark.listing("9.1")
@pytest.mark.parametrize("name", commands(*COMMANDS))
def test_time_endpoint(start_server, name: str) -> None:
    """Listing 9.1: month, day and time of the server's clock."""
    with start_server(name) as server:
        response = httpx.get(f"{server.url}/time")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    now = datetime.now()
    assert set(body) == {"month", "day", "time"}
    assert (body["month"], body["day"]) in {(now.month, now.day), ((now.month - 2) % 12 + 1, body["day"])}
    datetime.strptime(body["time"], "%H:%M:%S.%f")


@pytest.mark.parametrize("name", commands(*COMMANDS))
def test_starts_without_its_database_and_serves_once_it_is_back(
    name: str, start_server, stoppable_database: tuple[Path, int, str]
) -> None:
    """/time needs no database: the server starts while Postgres is down, and needs no restart once it is up."""
    data_dir, port, url = stoppable_database
    embedded.stop(data_dir)
    try:
        with (
            start_server(name, database_url=url) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            assert client.get("/time").status_code == 200
            for path in ("/brands", "/readyz"):
                response = client.get(path)
                assert (response.status_code, response.json()) == (503, UNAVAILABLE), path
            embedded.start(data_dir, port)
            assert client.get("/readyz").json() == {"status": "ready"}
            brands = client.get("/brands")
            assert brands.status_code == 200 and brands.json(), brands.text
    finally:
        embedded.start(data_dir, port)  # returns at once when it is running
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("name", commands(*COMMANDS))
def test_missing_database_is_one_clear_line(name: str, database_url: str) -> None:
    wrong = database_url.rsplit("/", 1)[0] + "/no_such_database"
    code, output = servers.run_to_exit(name, wrong)
    assert code != 0
    assert "Traceback" not in output
    assert any('database "no_such_database" does not exist' in line["message"] for line in log_lines(output)), output
