"""Shared by the scale-out tests: finding nginx, reading what a cluster printed, its processes, its clients."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

from devenv.servers import RunningServer
from scale_out.nginx import INSTALL_HINT, find_nginx
from tests.conftest import require_tool

# Short, so that a lost host stops counting quickly; the defaults are 1 s and 5 s. Six heartbeats to an
# expiry: the cluster shares two cores with the rest of the suite, and a heartbeat gives up after 0.5 s.
HEARTBEAT = 0.5
EXPIRY = 3.0
COUNTER_ENV = {"COUNTER_HEARTBEAT": str(HEARTBEAT), "COUNTER_EXPIRY": str(EXPIRY)}
HOST_LINE = re.compile(
    r"^  host (\d+): (\S+)(?: \(namespace (\S+), link (\S+)\))?  aiohttp :(\d+) pid \d+  counter :(\d+) pid \d+$",
    re.M,
)


def need_nginx() -> str:
    return find_nginx() or require_tool("nginx", INSTALL_HINT)


@dataclass(frozen=True)
class ClusterHost:
    index: int
    address: str
    netns: str | None
    link: str | None
    aiohttp_port: int
    counter_port: int


def cluster_hosts(server: RunningServer) -> list[ClusterHost]:
    """The hosts as the cluster printed them once it was up."""
    return [
        ClusterHost(int(index), address, netns, link, int(aiohttp_port), int(counter_port))
        for index, address, netns, link, aiohttp_port, counter_port in HOST_LINE.findall(server.log())
    ]


def cluster_mode(server: RunningServer) -> str:
    first = server.log().splitlines()[0]
    assert first.startswith("cluster of "), first
    return "namespace" if "network namespace mode" in first else "loopback"


def descendants(server: RunningServer) -> list[psutil.Process]:
    """Every process the command started: its children, and theirs (nginx workers)."""
    try:
        return psutil.Process(server.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def host_pids(server: RunningServer, address: str) -> dict[str, int]:
    """{"aiohttp": pid, "counter": pid} of the processes now serving on the host with this address."""
    found = {}
    for process in descendants(server):
        try:
            argv = process.cmdline()
        except psutil.Error:
            continue
        if "--host" in argv and argv[argv.index("--host") + 1] == address:
            found["aiohttp" if "aiohttp_api" in argv else "counter"] = process.pid
    return found


def established_to(address: str, port: int) -> int:
    """How many TCP connections are open to address:port (nginx's to one server), seen from here."""
    return sum(
        1
        for connection in psutil.net_connections(kind="tcp")
        if connection.raddr and connection.raddr == (address, port) and connection.status == "ESTABLISHED"
    )


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://", 1) + "/counter"


@dataclass
class CounterClient:
    """A WebSocket client of the counter and the host and worker its first message named."""

    ws: ClientConnection
    host: str
    worker: int


# Every client the package's tests open; closed after each test (conftest.py), also after one that
# failed part-way: the clusters share the counter's table, so a client left open counts in the next test.
OPEN: list[ClientConnection] = []


async def open_client(server: RunningServer) -> CounterClient:
    ws = await connect(ws_url(server), open_timeout=20)
    OPEN.append(ws)
    async with asyncio.timeout(20):
        landed = json.loads(await ws.recv())
    return CounterClient(ws, landed["host"], landed["worker"])


async def close_open_clients() -> None:
    clients, OPEN[:] = list(OPEN), []
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)


@dataclass
class Traffic:
    """REST requests through nginx, sent by a few concurrent loops until told to stop."""

    base_url: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    gets: list[tuple[float, int | str, float]] = field(default_factory=list)  # (sent at, status, seconds)
    posts: dict[str, int | str] = field(default_factory=dict)  # product name -> status or error

    async def run(self, loops: int = 4, limit: int = 2000, within: float = 180) -> None:
        async with asyncio.timeout(within), httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            await asyncio.gather(*(self._loop(client, number, limit) for number in range(loops)))

    async def _loop(self, client: httpx.AsyncClient, number: int, limit: int) -> None:
        for sent in range(limit):
            if self.stop.is_set():
                return
            if sent % 5 == number % 5:  # one request in five is a POST
                name = f"scale-out {uuid.uuid4().hex}"
                try:
                    response = await client.post("/product", json={"product_name": name, "brand_id": 1})
                    self.posts[name] = response.status_code
                except httpx.HTTPError as error:
                    self.posts[name] = type(error).__name__
            else:
                started = time.monotonic()
                try:
                    status: int | str = (await client.get("/brands")).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                self.gets.append((started, status, time.monotonic() - started))
            await asyncio.sleep(0.01)
