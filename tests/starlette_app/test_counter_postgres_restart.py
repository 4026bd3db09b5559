"""The shared counter through a Postgres restart: clients get a number during it, and NOTIFY is fast again after it."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from devenv import embedded
from devenv.servers import RunningServer
from devenv.throwaway import restartable_server
from tests.figures import record

from .test_counter import LATEST, assert_stays, wait_for_count, ws_url
from .test_counter_shared import WORKERS, eventually, group_pids

# A heartbeat of a minute: within the test, only a NOTIFY can carry a change from one worker to
# another quickly, so a worker that never LISTENs again shows up as a change that takes ~60 s.
HEARTBEAT = 60.0
RESTART_ENV = {"COUNTER_HEARTBEAT": str(HEARTBEAT), "COUNTER_EXPIRY": str(10 * HEARTBEAT)}
# Generous for a shared 2-core machine, and still far below the heartbeat: a NOTIFY takes milliseconds.
FAST = 5.0
# COUNTER_RETRY_MAX (2 s, the default) between attempts, plus the time to connect and LISTEN.
BACK_WITHIN = 20.0
ROUNDS = 3
OUTAGE = 3.0


@pytest.fixture
def restartable_postgres() -> Iterator[tuple[Path, int, str]]:
    """A Postgres of this test's own, started with pg_ctl like `make db`, so that it can be stopped and started again.

    Not the suite's shared server: restarting that would break every other test's connections.
    """
    with restartable_server("counter-restart-pg-") as server:
        yield server


async def registered_workers(database_url: str, server: RunningServer) -> set[int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM counter_worker WHERE pid = ANY($1::int[])", list(group_pids(server))
        )
    finally:
        await connection.close()
    return {row["pid"] for row in rows}


async def connect_landed(server: RunningServer) -> tuple[ClientConnection, int]:
    """A new client, and the worker (pid) it landed on, from the server's first message."""
    ws = await connect(ws_url(server))
    return ws, json.loads(await ws.recv())["worker"]


def relistened(server: RunningServer) -> set[str]:
    """The workers (pid=N) that have logged opening their LISTEN connection again."""
    return {
        line.split(" pid=")[1].split(":")[0]
        for line in server.log().splitlines()
        if "counter LISTEN connection open again" in line
    }


@pytest.mark.slow
async def test_after_a_postgres_restart_workers_listen_again_and_clients_get_numbers_throughout(
    start_server, restartable_postgres: tuple[Path, int, str]
) -> None:
    data_dir, port, database_url = restartable_postgres
    with start_server("counter-shared", database_url=database_url, env=RESTART_ENV) as server:

        async def all_registered() -> bool:
            return len(await registered_workers(database_url, server)) >= WORKERS

        await eventually(all_registered, within=60)
        watcher, watched_worker = await connect_landed(server)
        await wait_for_count(watcher, 1)
        clients = [watcher]

        # Postgres stops: every worker loses its pool's connections and its LISTEN connection.
        embedded.stop(data_dir)
        # A client that comes now still gets a number at once: the last total (1), plus itself.
        started = time.monotonic()
        during, _ = await connect_landed(server)
        clients.append(during)
        await wait_for_count(during, 2, within=FAST)
        during_outage = time.monotonic() - started

        # An outage of a few seconds, as a real restart takes: the workers' retries back off meanwhile.
        await asyncio.sleep(OUTAGE)
        await assert_stays(during, 2)  # and it stayed right meanwhile

        embedded.start(data_dir, port)
        back_at = time.monotonic()

        # Every worker opens its LISTEN connection again by itself, without a restart of its own...
        async def all_listening() -> bool:
            return len(relistened(server)) == WORKERS

        await eventually(all_listening, within=BACK_WITHIN, interval=0.05)
        listening_after = time.monotonic() - back_at
        # ...and the count is exact again everywhere (the write made during the outage went through).
        await asyncio.gather(*(wait_for_count(ws, 2, within=FAST) for ws in clients))

        # A client connecting to another worker than the watcher's reaches it by NOTIFY again, not at
        # the next heartbeat. Connects landing on the watcher's own worker count too, and are timed.
        latencies: list[float] = []
        crossed = 0
        while crossed < ROUNDS:
            assert len(clients) < 40, f"{len(clients)} clients, and {crossed} on another worker than {watched_worker}"
            started = time.monotonic()
            ws, worker = await connect_landed(server)
            clients.append(ws)
            await wait_for_count(watcher, len(clients), within=FAST)
            latencies.append(time.monotonic() - started)
            crossed += worker != watched_worker
        await asyncio.gather(*(wait_for_count(ws, len(clients)) for ws in clients))
        group = "counter-restart"
        record(group, f"during a {OUTAGE:g} s outage, a new client got a number after", during_outage * 1000, "ms")
        record(group, f"once Postgres was back, all {WORKERS} workers listened again after", listening_after, "s")
        # The heartbeat is HEARTBEAT (60 s): a change that crosses this fast came by NOTIFY.
        record(
            group,
            "then a connect reached a client of another worker in (median)",
            statistics.median(latencies) * 1000,
            "ms",
        )
        record(group, "and at worst in", max(latencies) * 1000, "ms")
        for ws in clients:
            LATEST.pop(ws, None)
            await ws.close()
