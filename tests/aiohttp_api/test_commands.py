"""The aiohttp server commands from the README: /time, and one line for a wrong database."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from devenv import servers
from tests.conftest import commands, log_lines

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
def test_missing_database_is_one_clear_line(name: str, database_url: str) -> None:
    wrong = database_url.rsplit("/", 1)[0] + "/no_such_database"
    code, output = servers.run_to_exit(name, wrong)
    assert code != 0
    assert "Traceback" not in output
    assert any('database "no_such_database" does not exist' in line["message"] for line in log_lines(output)), output
