"""A request whose database connection went silent (a network cut: no answer, no error) gets a 503 in bounded time.

Postgres' statement_timeout cannot help here: the query never reached it. The asyncpg apps give up on their own
(products_db/pool.py: command_timeout, SILENCE_MARGIN past DB_STATEMENT_TIMEOUT), drop the connection, and the next
request runs on a fresh one. One process each and a pool of one, so that the silenced connection is the one used.
"""

from __future__ import annotations

import time

import httpx
import pytest

from products_db.config import SILENCE_MARGIN
from tests.figures import record
from tests.products_db.test_logs import UNAVAILABLE
from tests.silent_proxy import SilenceableProxy

STATEMENT_TIMEOUT = 1.0
ENV = {"DB_POOL_SIZE": "1", "DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT)}
# asyncpg gives up on the query, then waits as long again for Postgres to acknowledge the cancel; plus slack.
BOUND = 2 * (STATEMENT_TIMEOUT + SILENCE_MARGIN) + 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["aiohttp", "counter"])  # `counter` is the Starlette app in one process
def test_a_silent_connection_is_answered_503_and_replaced(
    start_server, silent_proxy: tuple[SilenceableProxy, str], name: str
) -> None:
    silenceable, proxy_url = silent_proxy
    with (
        start_server(name, env=ENV, database_url=proxy_url) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        assert client.get("/brands").status_code == 200
        assert silenceable.silence() >= 1

        began = time.monotonic()
        answer = client.get("/brands")
        elapsed = time.monotonic() - began
        assert answer.status_code == 503, (answer.status_code, answer.text)
        assert answer.json() == UNAVAILABLE
        assert elapsed < BOUND, f"answered after {elapsed:.1f} s"
        record("silent-network", f"`{name}`: a silent connection answered 503 after", elapsed, "s")

        # The silent connection was dropped: the next request opens a fresh one, which the proxy passes.
        assert client.get("/brands").status_code == 200
