"""The shared counter when its database connections go silent, as after a network cut: no answer, no error."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from devenv import servers
from devenv.servers import RunningServer
from tests.silent_proxy import SilenceableProxy

from .test_counter import assert_stays, wait_for_count, ws_url
from .test_counter_shared import WORKERS, connect_spread, eventually, worker_rows

HEARTBEAT = 0.5
# A step given up after a heartbeat, the next heartbeat on a fresh connection: 1.5 s, well within this.
EXPIRY = 3.0
SILENT_ENV = {"COUNTER_HEARTBEAT": str(HEARTBEAT), "COUNTER_EXPIRY": str(EXPIRY)}


@pytest.mark.slow
async def test_silent_connections_are_given_up_and_the_total_stays_exact(
    database_url: str, start_server, silent_proxy: tuple[SilenceableProxy, str]
) -> None:
    silenceable, proxy_url = silent_proxy
    server: RunningServer
    with start_server("counter-shared", env=SILENT_ENV, database_url=proxy_url) as server:
        clients = await connect_spread(database_url, server, at_least=8)
        total = len(clients)
        await asyncio.gather(*(wait_for_count(ws, total) for ws in clients))

        # Every connection the workers hold (their pools, their LISTEN connections) goes silent.
        assert silenceable.silence() >= WORKERS
        # A newcomer is counted by everyone: its worker writes its row on a fresh connection, and
        # every worker reads the total on one.
        newcomer = await connect(ws_url(server))
        everyone = [*clients, newcomer]
        await asyncio.gather(*(wait_for_count(ws, total + 1, within=EXPIRY + 10) for ws in everyone))
        # And the total holds: no worker's row expires, each heartbeat finds a connection that answers.
        await asyncio.gather(*(assert_stays(ws, total + 1, quiet=2 * EXPIRY) for ws in everyone))

        async def all_fresh() -> dict[int, int]:
            rows = await worker_rows(database_url, server)
            return rows if len(rows) == WORKERS and sum(rows.values()) == total + 1 else {}

        await eventually(all_fresh, within=EXPIRY)
        await asyncio.gather(*(ws.close() for ws in everyone))
        # The workers did meet silent connections, and said so.
        assert "counter heartbeat failed, retrying: " in server.log()
        # And they stop on SIGTERM though their pools still hold silent connections: each gives up on its
        # goodbye to them after products_db.pool.CLOSE_TIMEOUT, where it used to wait until SIGKILL.
        assert servers.stop(server) == 0, server.log()[-3000:]
