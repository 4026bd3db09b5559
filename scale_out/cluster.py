"""`python -m scale_out --hosts N`: N hosts on one machine, each running the REST API and the counter, behind nginx.

Every host runs `python -m aiohttp_api` (the REST API) and `uvicorn starlette_app.app:app` with
COUNTER_MODE=postgres (the counter, shared through the one Postgres every host uses). nginx, in front,
balances REST requests over the hosts' aiohttp servers and WebSockets over their counters. A host that
dies is started again (like an init system would); one that is cut off is skipped by nginx until it
answers again. Ctrl-C or SIGTERM stops nginx and the hosts, then removes their network.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from products_db.config import connect_params, database_url, redact

from .network import Host, Network, hosts_network
from .nginx import NginxMissing, find_nginx, start_nginx
from .supervisor import Child, ChildFailed, Supervisor, handle_signals, run_directory, supervised

# In namespace mode every host has ports of its own, so all use the same two; loopback hosts share the
# machine's ports, and get free ones.
AIOHTTP_PORT = 8080
COUNTER_PORT = 8000


@dataclass
class HostServers:
    host: Host
    aiohttp: Child
    aiohttp_port: int
    counter: Child
    counter_port: int


def free_port_on(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def with_address(url: str, host: str, port: int) -> str:
    """The same database URL (user, password, database name) at another address."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}:{port}" if user else f"{host}:{port}"))


def hosts_database(supervisor: Supervisor, network: Network, url: str) -> str:
    """The DATABASE_URL the hosts use: the real one, or in namespace mode a forwarder on the bridge."""
    if network.gateway is None:
        return url
    target = connect_params(url)
    port = int(target.get("port", 5432))
    argv = [
        sys.executable,
        "-m",
        "scale_out.forward",
        network.gateway,
        str(port),
        target.get("host", "127.0.0.1"),
        str(port),
    ]
    # Stopped last, and deaf to Ctrl-C: the apps still reach the database while they leave.
    forwarder = supervisor.start("database forwarder", argv, layer=0, until_stdin_closes=True)
    supervisor.wait_tcp(forwarder, network.gateway, port)
    return with_address(url, network.gateway, port)


def start_host(supervisor: Supervisor, host: Host, database: str, namespaced: bool) -> HostServers:
    env = {**os.environ, "DATABASE_URL": database, "COUNTER_MODE": "postgres"}
    aiohttp_port = AIOHTTP_PORT if namespaced else free_port_on(host.address)
    counter_port = COUNTER_PORT if namespaced else free_port_on(host.address)
    aiohttp = supervisor.start(
        f"host {host.index} aiohttp",
        host.command([sys.executable, "-m", "aiohttp_api", "--host", host.address, "--port", str(aiohttp_port)]),
        env,
    )
    # One uvicorn process per host (no --workers): a host here stands for one small machine. Log level
    # warning: an access log line per request would cost the benchmark more than the request. No
    # per-message-deflate, as the counter's documented commands: the counts are a few bytes.
    uvicorn = [sys.executable, "-m", "uvicorn", "starlette_app.app:app", "--log-level", "warning"]
    uvicorn += ["--ws-per-message-deflate", "false"]
    counter = supervisor.start(
        f"host {host.index} counter",
        host.command([*uvicorn, "--host", host.address, "--port", str(counter_port)]),
        env,
    )
    return HostServers(host, aiohttp, aiohttp_port, counter, counter_port)


def run_cluster(supervisor: Supervisor, network: Network, run_dir: Path, port: int) -> None:
    print(f"cluster of {len(network.hosts)} hosts, {network.describe()}", flush=True)
    url = database_url()
    database = hosts_database(supervisor, network, url)
    servers = [start_host(supervisor, host, database, network.gateway is not None) for host in network.hosts]
    for host in servers:
        supervisor.wait_http(host.aiohttp, f"http://{host.host.address}:{host.aiohttp_port}/brands")
        supervisor.wait_http(host.counter, f"http://{host.host.address}:{host.counter_port}/")
    for host in servers:
        where = f" (namespace {host.host.netns}, link {host.host.link})" if host.host.netns else ""
        print(
            f"  host {host.host.index}: {host.host.address}{where}"
            f"  aiohttp :{host.aiohttp_port} pid {host.aiohttp.process.pid}"
            f"  counter :{host.counter_port} pid {host.counter.process.pid}",
            flush=True,
        )
    start_nginx(
        supervisor,
        run_dir,
        "127.0.0.1",
        port,
        rest=[f"{host.host.address}:{host.aiohttp_port}" for host in servers],
        counter=[f"{host.host.address}:{host.counter_port}" for host in servers],
    )
    via = f" (hosts reach it through {urlsplit(database).netloc.rpartition('@')[2]})" if database != url else ""
    print(f"database: {redact(url)}{via}")
    print(f"REST API, balanced over every host: http://127.0.0.1:{port}/brands")
    print(f"counter page, its WebSocket on any host: http://127.0.0.1:{port}/")
    print("Ctrl-C stops everything.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scale_out", description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--port", type=int, default=8012, help="where nginx listens (on 127.0.0.1)")
    parser.add_argument(
        "--mode", choices=["auto", "namespace", "loopback"], default="auto", help="auto: namespaces when root"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= 200:
        parser.error("--hosts must be between 1 and 200")
    handle_signals()
    try:
        if find_nginx() is None:
            raise NginxMissing()
        with (
            hosts_network(args.hosts, args.mode) as network,
            run_directory() as run_dir,
            supervised() as supervisor,
        ):
            run_cluster(supervisor, network, run_dir, args.port)
            supervisor.watch()
    except (ChildFailed, NginxMissing, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0
