"""The cluster through nginx: clients on every host see one exact total; a host is lost, and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections import Counter

import httpx
import pytest

from devenv.servers import RunningServer
from scale_out.network import ip
from tests.conftest import query
from tests.starlette_app.test_counter import assert_stays, declines_compression, wait_for_count

from .conftest import HOSTS
from .support import (
    EXPIRY,
    HEARTBEAT,
    CounterClient,
    Traffic,
    cluster_hosts,
    cluster_mode,
    established_to,
    host_pids,
    open_client,
)

# A cluster starting removes what killed runs left: tests that start one never run at once (tests/parallel.py).
pytestmark = pytest.mark.serial("cluster")

# nginx's proxy_read_timeout for REST: a request in flight on a lost host is retried (or fails) after it.
NGINX_READ_TIMEOUT = 10.0
# Scheduling slack on a busy 2-core machine, on top of the counter's own bound.
SLACK = 1.5


async def open_spread(cluster: RunningServer, per_host: int) -> list[CounterClient]:
    """Connect per_host clients for each host, one at a time (nginx's least_conn spreads them)."""
    clients = [await open_client(cluster) for _ in range(per_host * HOSTS)]
    landed = Counter(client.host for client in clients)
    assert set(landed) == {host.address for host in cluster_hosts(cluster)}, landed
    await asyncio.gather(*(wait_for_count(client.ws, len(clients)) for client in clients))
    return clients


def written(database_url: str, names: list[str]) -> Counter[str]:
    rows = query(database_url, "SELECT product_name FROM product WHERE product_name = ANY(%s)", names)
    return Counter(row["product_name"] for row in rows)


def every_host_pid(cluster: RunningServer) -> dict[str, dict[str, int]]:
    return {host.address: host_pids(cluster, host.address) for host in cluster_hosts(cluster)}


async def test_clients_spread_over_every_host_see_one_exact_total(cluster: RunningServer) -> None:
    mode = cluster_mode(cluster)
    assert mode == ("namespace" if os.geteuid() == 0 else "loopback")
    if mode == "namespace":
        for host in cluster_hosts(cluster):
            # Each host's servers really run in its namespace, which routes nowhere but the bridge's subnet.
            assert set(host_pids(cluster, host.address).values()) <= {
                int(p) for p in ip("netns", "pids", host.netns).split()
            }
            routes = ip("-n", host.netns, "-4", "route", "show").strip().splitlines()
            assert len(routes) == 1 and routes[0].startswith(host.address.rsplit(".", 1)[0] + ".0/24"), routes
    clients = await open_spread(cluster, per_host=3)
    total = len(clients)
    for client in clients:  # the worker a client names is the counter process of the host it names
        assert client.worker == host_pids(cluster, client.host)["counter"]
        assert declines_compression(client.ws)  # through nginx too: the hosts' counters run without deflate
    await asyncio.gather(*(assert_stays(client.ws, total) for client in clients))

    leaving = clients[::3]  # one per host
    staying = [client for client in clients if client not in leaving]
    await leaving[0].ws.close()
    for client in leaving[1:]:
        client.ws.transport.abort()  # gone without a close frame
    await asyncio.gather(*(wait_for_count(client.ws, len(staying)) for client in staying))
    await asyncio.gather(*(assert_stays(client.ws, len(staying)) for client in staying))
    await asyncio.gather(*(client.ws.close() for client in staying))


@pytest.mark.slow
async def test_a_lost_host_stops_counting_rest_keeps_answering_and_the_host_rejoins(
    cluster: RunningServer, database_url: str
) -> None:
    hosts = cluster_hosts(cluster)
    victim = hosts[1]
    cut_link = cluster_mode(cluster) == "namespace"
    others = {host.address: host_pids(cluster, host.address) for host in hosts if host != victim}
    clients = await open_spread(cluster, per_host=3)
    lost = [client for client in clients if client.host == victim.address]
    remaining = [client for client in clients if client.host != victim.address]
    traffic = Traffic(cluster.url)
    sender = asyncio.create_task(traffic.run())
    await asyncio.sleep(1)  # requests flowing, nginx holding keepalive connections to every host

    lost_at = time.monotonic()
    if cut_link:
        ip("link", "set", victim.link, "down")  # no process dies: the host just stops answering
    else:
        for pid in host_pids(cluster, victim.address).values():
            os.kill(pid, signal.SIGKILL)  # the supervisor starts them again after a second
    try:
        await asyncio.gather(*(wait_for_count(c.ws, len(remaining), within=EXPIRY + 20) for c in remaining))
        corrected_after = time.monotonic() - lost_at
        await asyncio.gather(*(assert_stays(client.ws, len(remaining)) for client in remaining))
        # Stay lost past nginx's read timeout: requests that were in flight on the host time out then.
        await asyncio.sleep(max(0.0, NGINX_READ_TIMEOUT + 3 - (time.monotonic() - lost_at)))
    finally:
        if cut_link:
            ip("link", "set", victim.link, "up")
    back_at = time.monotonic()

    # The lost host's clients are written off (a browser would reconnect); new ones land on it again.
    for client in lost:
        client.ws.transport.abort()
    newcomers: list[CounterClient] = []
    for _ in range(40):
        newcomers.append(await open_client(cluster))
        if newcomers[-1].host == victim.address:
            break
        await asyncio.sleep(0.5)  # nginx tries a failed server again after its fail_timeout (10 s)
    assert newcomers[-1].host == victim.address, [client.host for client in newcomers]
    everyone = remaining + newcomers
    await asyncio.gather(*(wait_for_count(client.ws, len(everyone), within=60) for client in everyone))
    rejoined_after = time.monotonic() - back_at
    # And holds for longer than the expiry: the rejoined host's row stays fresh, its heartbeat not
    # stuck on a database connection the cut left half-open.
    await asyncio.gather(*(assert_stays(client.ws, len(everyone), quiet=EXPIRY + 4 * HEARTBEAT) for client in everyone))
    traffic.stop.set()
    await sender

    during = [seconds for sent, _, seconds in traffic.gets if lost_at <= sent <= back_at]
    print(
        f"host {victim.address} lost ({'link down' if cut_link else 'killed'}): the other clients showed the"
        f" corrected total after {corrected_after:.2f} s; it rejoined {rejoined_after:.2f} s after coming back;"
        f" {len(during)} GETs while it was lost, slowest {max(during):.2f} s; POSTs {Counter(traffic.posts.values())}"
    )
    # Within the counter's expiry plus one heartbeat, every remaining client showed the corrected total.
    assert corrected_after < EXPIRY + HEARTBEAT + SLACK
    # No GET failed, also while the host was lost: nginx tried them on another host.
    assert Counter(status for _, status, _ in traffic.gets) == {200: len(traffic.gets)}
    assert len(during) >= 20
    # A POST was answered, or failed visibly (one in flight on the lost host); none was written twice.
    counts = written(database_url, list(traffic.posts))
    assert set(traffic.posts.values()) <= {201, 502, 504}, traffic.posts
    assert all(counts[name] == 1 for name, status in traffic.posts.items() if status == 201)
    assert all(counts[name] <= 1 for name in traffic.posts)
    # The other hosts went on as they were: not one of their processes was restarted.
    assert {host.address: host_pids(cluster, host.address) for host in hosts if host != victim} == others
    await asyncio.gather(*(client.ws.close() for client in everyone))


@pytest.mark.slow
async def test_a_post_in_flight_on_a_lost_host_is_answered_or_fails_visibly_and_is_never_written_twice(
    cluster: RunningServer, database_url: str
) -> None:
    hosts = cluster_hosts(cluster)
    victim = hosts[2]
    before = every_host_pid(cluster)
    frozen = before[victim.address]["aiohttp"]
    names = [f"in flight {uuid.uuid4().hex}" for _ in range(4 * HOSTS)]
    # Frozen, the host's aiohttp still has connections accepted (by the kernel) but answers nothing:
    # whatever nginx hands it stays in flight until it is killed.
    os.kill(frozen, signal.SIGSTOP)
    try:
        async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as client:
            posts = [
                asyncio.create_task(client.post("/product", json={"product_name": name, "brand_id": 1}))
                for name in names
            ]
            gets = [asyncio.create_task(client.get("/brands")) for _ in range(4 * HOSTS)]
            await asyncio.sleep(1)
            assert not all(task.done() for task in posts)  # round robin gave some to the frozen host
            os.kill(frozen, signal.SIGKILL)  # the host is lost with them: the kernel resets its connections
            post_answers = await asyncio.gather(*posts)
            get_answers = await asyncio.gather(*gets)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGKILL)
    assert [answer.status_code for answer in get_answers] == [200] * len(gets)  # retried on another host
    statuses = {name: answer.status_code for name, answer in zip(names, post_answers, strict=True)}
    assert set(statuses.values()) == {201, 502}, statuses  # 502: sent to the lost host, never retried
    assert post_answers[list(statuses.values()).index(502)].json() == {
        "error": "no server could answer, try again later"
    }
    counts = written(database_url, names)
    for name, status in statuses.items():
        # A 201 was written once; a 502 not at all (the frozen process never ran again).
        assert counts[name] == (1 if status == 201 else 0), (name, status, counts[name])

    # The supervisor starts the host's aiohttp again; nginx sends it requests once its fail_timeout is over.
    deadline = time.monotonic() + 40
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as client:
        while established_to(victim.address, victim.aiohttp_port) == 0:
            assert time.monotonic() < deadline, "nginx never went back to the restarted server"
            assert (await client.get("/brands")).status_code == 200
            await asyncio.sleep(0.1)
    after = every_host_pid(cluster)
    assert after[victim.address]["aiohttp"] != frozen
    after[victim.address].pop("aiohttp"), before[victim.address].pop("aiohttp")
    assert after == before  # nothing else was restarted
