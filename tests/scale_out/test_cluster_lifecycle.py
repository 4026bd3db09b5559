"""The cluster's life: SIGTERM leaves nothing behind, and a run killed part-way is cleaned up by the next one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from devenv import servers
from devenv.embedded import free_port
from devenv.servers import RunningServer
from scale_out.network import our_names
from tests.starlette_app.test_counter import wait_for_count

from .support import COUNTER_ENV, cluster_hosts, cluster_mode, descendants, need_nginx, open_client

# A cluster starting removes what killed runs left: tests that start one never run at once (tests/parallel.py).
pytestmark = pytest.mark.serial("cluster")


def leftovers(owner: int) -> list[str]:
    """The namespaces, links and run folder a cluster run by `owner` made, if they are still there."""
    names = [name for pid, _, name in our_names() if pid == owner] if os.geteuid() == 0 else []
    return names + [path.name for path in Path(tempfile.gettempdir()).glob(f"scale-out-{owner}-*")]


async def clients_on_every_host(server: RunningServer, per_host: int = 2) -> None:
    hosts = {host.address for host in cluster_hosts(server)}
    clients = [await open_client(server) for _ in range(per_host * len(hosts))]
    assert {client.host for client in clients} == hosts
    await asyncio.gather(*(wait_for_count(client.ws, len(clients)) for client in clients))
    await asyncio.gather(*(client.ws.close() for client in clients))


def kill_part_way(database_url: str) -> tuple[int, list[str], list[str]]:
    """Start a cluster, SIGKILL it while its hosts start; its pid, what it had made, and what it left behind.

    What it had made is read before the kill: once its pid is dead, any scale_out command starting in
    parallel (nginx in front of Flask, the benchmark's rows) may remove its run folder, as the next
    cluster would."""
    killed = subprocess.Popen(
        servers.COMMANDS["cluster"].argv(free_port(), "--hosts 2"),
        cwd=servers.REPO_ROOT,
        env=servers.environment(database_url, COUNTER_ENV),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert killed.stdout is not None
    assert killed.stdout.readline().startswith("cluster of 2 hosts")  # its network is there now
    supervisor = psutil.Process(killed.pid)
    deadline = time.monotonic() + 30
    while not any("aiohttp_api" in p.cmdline() for p in supervisor.children()):
        assert time.monotonic() < deadline, "the hosts' servers never started"
        time.sleep(0.05)
    children = supervisor.children(recursive=True)
    made = leftovers(killed.pid)
    killed.kill()  # SIGKILL while the hosts start: the supervisor runs no clean-up at all
    killed.wait()
    killed.stdout.close()
    # Its children die with it (the kernel sends each SIGTERM); its namespaces, links and folder stay.
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, alive
    return killed.pid, made, leftovers(killed.pid)


async def test_a_run_killed_part_way_is_cleaned_up_by_the_next_and_sigterm_leaves_nothing(
    start_server, database_url: str
) -> None:
    need_nginx()
    killed, made, stale = kill_part_way(database_url)
    assert any(name.startswith(f"scale-out-{killed}-") for name in made), made  # its run folder
    if os.geteuid() == 0:  # namespace mode: a namespace and a link per host, and the bridge, left behind
        network = sorted(name for name in made if name.startswith("scl"))
        assert len(network) == 5 and sorted(name for name in stale if name.startswith("scl")) == network, stale
    with start_server("cluster", env=COUNTER_ENV, extra_args="--hosts 2") as server:
        assert not leftovers(killed), f"the next run left {stale} in place"
        await clients_on_every_host(server)
        children = descendants(server)
        assert leftovers(server.process.pid)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
    assert not leftovers(server.process.pid)


async def test_loopback_mode_gives_each_host_an_address_of_its_own(start_server) -> None:
    need_nginx()
    with start_server("cluster", env=COUNTER_ENV, extra_args="--hosts 2 --mode loopback") as server:
        assert cluster_mode(server) == "loopback"
        assert [host.address for host in cluster_hosts(server)] == ["127.0.0.2", "127.0.0.3"]
        await clients_on_every_host(server)
        children = descendants(server)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
    assert not leftovers(server.process.pid)
