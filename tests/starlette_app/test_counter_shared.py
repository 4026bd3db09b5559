"""The counter shared through Postgres: with COUNTER_MODE=postgres, four workers show every client one total."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devenv.servers import RunningServer
from starlette_app import counter
from starlette_app.counter_shared import UPSERT_WORKER, SharedCount, create_table

from .test_counter import LATEST, assert_stays, declines_compression, wait_for_count, ws_url

# Short, so that recovery after a kill -9 is quick to observe; the defaults are 1 s and 5 s.
HEARTBEAT = 0.5
EXPIRY = 2.0
SHARED_ENV = {"COUNTER_HEARTBEAT": str(HEARTBEAT), "COUNTER_EXPIRY": str(EXPIRY)}
WORKERS = 4
T = TypeVar("T")


@pytest.fixture(scope="module")
def shared_server(start_server) -> Iterator[RunningServer]:
    with start_server("counter-shared", env=SHARED_ENV) as server:
        yield server


def group_pids(server: RunningServer) -> set[int]:
    """Every process of the server's process group (the uvicorn master and its workers)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == server.process.pid:  # fields: state, ppid, pgrp, ...
            pids.add(int(stat.parent.name))
    return pids


async def worker_rows(database_url: str, server: RunningServer) -> dict[int, int]:
    """pid -> connections for this server's workers whose heartbeat is fresh."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid, connections FROM counter_worker"
            " WHERE heartbeat >= now() - make_interval(secs => $1) AND pid = ANY($2::int[])",
            EXPIRY,
            list(group_pids(server)),
        )
    finally:
        await connection.close()
    return {row["pid"]: row["connections"] for row in rows}


async def eventually(check: Callable[[], Awaitable[T]], within: float, interval: float = 0.2) -> T:
    """Poll the database until check() returns something true (the table has no push to wait on)."""
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, f"still {result!r} after {within} s"
        await asyncio.sleep(interval)
    return result


async def wait_for_workers(database_url: str, server: RunningServer, count: int = WORKERS) -> dict[int, int]:
    async def all_registered() -> dict[int, int]:
        rows = await worker_rows(database_url, server)
        return rows if len(rows) >= count else {}

    return await eventually(all_registered, within=60)


async def connect_spread(database_url: str, server: RunningServer, at_least: int) -> list[ClientConnection]:
    """Connect clients one at a time until at least 3 workers hold some (the kernel picks the worker)."""
    await wait_for_workers(database_url, server)
    clients: list[ClientConnection] = []
    while True:
        for _ in range(8):
            clients.append(await connect(ws_url(server)))
        await wait_for_count(clients[-1], len(clients))
        busy = [n for n in (await worker_rows(database_url, server)).values() if n > 0]
        if len(clients) >= at_least and len(busy) >= 3:
            return clients
        assert len(clients) < 200, f"200 clients all landed on workers {busy}"


async def test_clients_on_all_workers_converge_to_the_exact_total(
    database_url: str, shared_server: RunningServer
) -> None:
    clients = await connect_spread(database_url, shared_server, at_least=24)
    total = len(clients)
    await asyncio.gather(*(wait_for_count(ws, total) for ws in clients))
    await asyncio.gather(*(assert_stays(ws, total) for ws in clients))
    rows = await worker_rows(database_url, shared_server)
    assert sum(rows.values()) == total, rows

    leaving, staying = clients[::3], [ws for ws in clients if ws not in clients[::3]]
    await asyncio.gather(*(ws.close() for ws in leaving[:4]))
    for ws in leaving[4:]:
        ws.transport.abort()  # some leave without a close frame
    await asyncio.gather(*(wait_for_count(ws, len(staying)) for ws in staying))
    await asyncio.gather(*(assert_stays(ws, len(staying)) for ws in staying))
    await asyncio.gather(*(ws.close() for ws in staying))


async def test_every_worker_declines_per_message_deflate(database_url: str, shared_server: RunningServer) -> None:
    clients = await connect_spread(database_url, shared_server, at_least=8)  # on 3 workers or more
    assert all(declines_compression(ws) for ws in clients)
    await asyncio.gather(*(ws.close() for ws in clients))


async def test_workers_hold_their_fair_share_of_the_clients(database_url: str, shared_server: RunningServer) -> None:
    """With --reuse-port each worker listens on its own socket, and the kernel spreads connections over them.

    On one shared socket a burst of connects piles onto the workers that wake first (one held 1.65 times its
    share of 400 here). Hashed over four sockets, 200 clients go past 1.5 times a fair share about once in 10,000.
    """
    await wait_for_workers(database_url, shared_server)
    clients = 200

    async def landed_on() -> tuple[ClientConnection, int]:
        ws = await connect(ws_url(shared_server))
        return ws, json.loads(await ws.recv())["worker"]

    landed = await asyncio.gather(*(landed_on() for _ in range(clients)))
    per_worker = Counter(worker for _, worker in landed)
    await asyncio.gather(*(ws.close() for ws, _ in landed))
    assert len(per_worker) == WORKERS, per_worker
    assert max(per_worker.values()) <= 1.5 * clients / WORKERS, sorted(per_worker.values())


async def settle(ws: ClientConnection, expected: int, quiet: float = 2 * HEARTBEAT, within: float = 30) -> None:
    """Read until nothing new arrives for `quiet` seconds; the last count read must then be `expected`."""
    seen = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            async with asyncio.timeout(quiet):
                LATEST[ws] = await ws.recv()
                seen.append(LATEST[ws])
        except TimeoutError:
            if LATEST.get(ws) == str(expected):
                return
    raise AssertionError(f"expected the count to settle on {expected}, the client saw {seen}")


async def count_or_closed(ws: ClientConnection, expected: int) -> str:
    try:
        await wait_for_count(ws, expected, within=EXPIRY + 10 * HEARTBEAT + 10)
    except ConnectionClosed:
        return "closed"
    return "counted"


async def test_a_killed_worker_stops_counting_within_the_expiry(
    database_url: str, shared_server: RunningServer
) -> None:
    clients = await connect_spread(database_url, shared_server, at_least=16)
    total = len(clients)
    await asyncio.gather(*(wait_for_count(ws, total) for ws in clients))
    rows = await worker_rows(database_url, shared_server)
    victim, victim_clients = max(rows.items(), key=lambda row: row[1])
    assert 0 < victim_clients < total, rows

    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)  # no shutdown code runs: its row stays, claiming its clients
    outcomes = await asyncio.gather(*(count_or_closed(ws, total - victim_clients) for ws in clients))
    recovered_after = time.monotonic() - killed_at
    print(f"killed worker {victim} ({victim_clients} of {total} clients): recovered in {recovered_after:.2f} s")

    # The victim's clients lost their connection; every other client shows the survivors' total...
    assert outcomes.count("closed") == victim_clients
    assert outcomes.count("counted") == total - victim_clients
    # ...once the dead worker's heartbeat has expired: about COUNTER_EXPIRY, plus a heartbeat or two.
    assert recovered_after < EXPIRY + 4 * HEARTBEAT + 2, f"recovered after {recovered_after:.1f} s"
    survivors = [ws for ws, outcome in zip(clients, outcomes, strict=True) if outcome == "counted"]
    await asyncio.gather(*(assert_stays(ws, len(survivors)) for ws in survivors))

    # The expired row is deleted, not just ignored; uvicorn replaces the worker, which joins at 0.
    connection = await asyncpg.connect(database_url)
    try:

        async def victim_row_gone() -> bool:
            return not await connection.fetchval("SELECT count(*) FROM counter_worker WHERE pid = $1", victim)

        await eventually(victim_row_gone, within=10, interval=HEARTBEAT)
    finally:
        await connection.close()
    await wait_for_workers(database_url, shared_server)
    await asyncio.gather(*(ws.close() for ws in survivors))


async def test_workers_leave_the_table_when_the_server_stops(database_url: str, start_server) -> None:
    with start_server("counter-shared", env=SHARED_ENV) as server:
        pids = list(await wait_for_workers(database_url, server))
    connection = await asyncpg.connect(database_url)
    try:
        left = await connection.fetchval("SELECT count(*) FROM counter_worker WHERE pid = ANY($1::int[])", pids)
    finally:
        await connection.close()
    assert left == 0


async def test_a_worker_whose_row_was_deleted_writes_it_again(database_url: str, shared_server: RunningServer) -> None:
    clients = await connect_spread(database_url, shared_server, at_least=8)
    total = len(clients)
    await asyncio.gather(*(wait_for_count(ws, total) for ws in clients))
    # As if every worker had stalled past the expiry and been cleaned up by the others.
    connection = await asyncpg.connect(database_url)
    try:
        pids = list(group_pids(shared_server))
        await connection.execute("DELETE FROM counter_worker WHERE pid = ANY($1::int[])", pids)
    finally:
        await connection.close()

    async def rows_back() -> dict[int, int]:
        rows = await worker_rows(database_url, shared_server)
        return rows if len(rows) == WORKERS and sum(rows.values()) == total else {}

    await eventually(rows_back, within=EXPIRY + 4 * HEARTBEAT)
    # While the rows came back one by one, workers published partial totals, and some of those may
    # still be unread in the clients' buffers: each client must end on the full total and stay there.
    await asyncio.gather(*(settle(ws, total) for ws in clients))
    await asyncio.gather(*(ws.close() for ws in clients))


async def test_a_read_counts_this_workers_clients_as_they_are_not_as_its_row_says(database_url: str) -> None:
    """In-process: a worker whose write has not landed (it failed and waits for its retry) reads the total.

    Its clients were already told a number that counts the newest client; the read must not tell them
    one from the row, which does not count it yet: the count would step back, then forward again.
    """
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    published: list[str] = []
    clients = counter.Counter(send_timeout=1.0)
    clients.publish = published.append  # type: ignore[method-assign]
    count = SharedCount(clients, pool, database_url, heartbeat=HEARTBEAT, expiry=EXPIRY, retry_max=1.0)
    other = uuid.uuid4()
    try:
        await create_table(pool)
        await pool.execute(UPSERT_WORKER, other, "another host", 1, 2)  # another worker, with two clients
        clients.add(object())  # type: ignore[arg-type]
        await count.write_row()  # this worker's row: one client
        clients.add(object())  # type: ignore[arg-type]  # a second one, not written yet
        await count.read_total()
        assert count.others >= 2  # the other worker's row, and any a test before left to expire
        assert published == [str(count.others + 2)]
    finally:
        await pool.execute("DELETE FROM counter_worker WHERE worker_id = ANY($1::uuid[])", [other, count.worker_id])
        await pool.close()
