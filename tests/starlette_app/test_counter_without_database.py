"""The in-memory counter (listing 9.9) needs no database: it counts while Postgres is down."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect

from devenv.embedded import free_port

from .test_counter import connect_counted, wait_for_count, ws_url

pytestmark = pytest.mark.listing("9.9")


async def test_the_memory_counter_counts_while_the_database_is_down(start_server) -> None:
    # Nothing listens on this port: every connection to the database is refused.
    nowhere = f"postgresql://counter@127.0.0.1:{free_port()}/nothing"
    with start_server("counter", database_url=nowhere) as server:
        url = ws_url(server)
        first = await connect_counted(url, 1)
        second = await connect(url)
        await wait_for_count(first, 2)
        await second.close()
        await wait_for_count(first, 1)
        await first.close()
