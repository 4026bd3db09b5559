"""The async apps' documented commands start while Postgres is down and serve once it is back, with no restart.

The pool opens no connection before a request needs one (min_size=0, products_db/pool.py's first_contact
logs the outage): what needs no database answers at once, database routes answer the JSON 503.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devenv import embedded
from tests.conftest import commands
from tests.products_db.test_logs import UNAVAILABLE

# Each command, and a route of it that needs no database (aiohttp's /time is listing 9.1).
NO_DATABASE_ROUTE = {
    "aiohttp": "/time",
    "aiohttp-gunicorn": "/time",
    "starlette": "/healthz",
    "starlette-gunicorn": "/healthz",
}


@pytest.mark.parametrize("name", commands(*NO_DATABASE_ROUTE))
def test_starts_without_its_database_and_serves_once_it_is_back(
    name: str, start_server, stoppable_database: tuple[Path, int, str]
) -> None:
    data_dir, port, url = stoppable_database
    embedded.stop(data_dir)
    try:
        with (
            start_server(name, database_url=url) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            assert client.get(NO_DATABASE_ROUTE[name]).status_code == 200
            for path in ("/brands", "/readyz"):
                response = client.get(path, headers={"Connection": "close"})  # a new connection, maybe a new worker
                assert (response.status_code, response.json()) == (503, UNAVAILABLE), path
            embedded.start(data_dir, port)
            for _ in range(8):  # every worker, not only the first to answer
                assert client.get("/readyz", headers={"Connection": "close"}).json() == {"status": "ready"}
            brands = client.get("/brands")
            assert brands.status_code == 200 and brands.json(), brands.text
    finally:
        embedded.start(data_dir, port)  # returns at once when it is running
    assert "Traceback" not in server.log()
