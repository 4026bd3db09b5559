"""Load check of the WebSocket user counter: N clients at once, in memory (1 worker) and shared (4 workers).

    python -m bench.counter_load [--mode memory|shared|both] [--clients 1000] [--runs 3]

Reports, per run: how long N concurrent connects take (first attempt to last handshake done), and
how long after the last connect every client has seen the final count N. Writes
bench/results/counter-<mode>.json and bench/results/counter-summary.md. Uses DATABASE_URL if set, else a
throwaway embedded Postgres. The clients run in this one process, on the same machine as the
server: they compete with it for the CPU, so read the figures as "this machine, end to end".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import asyncpg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devenv import servers
from devenv.throwaway import seeded_database

from .processes import group_pids

RESULTS = Path(__file__).resolve().parent / "results"
COMMANDS = {"memory": "counter", "shared": "counter-shared"}
SETTLE_TIMEOUT = 120.0
MEDIAN_KEYS = (
    "connect_all_s",
    "connect_median_s",
    "last_connect_to_all_saw_final_s",
    "first_attempt_to_all_saw_final_s",
)


class Client:
    """One WebSocket client that remembers the latest count and when it arrived."""

    def __init__(self, ws: ClientConnection, connected_at: float) -> None:
        self.ws = ws
        self.connected_at = connected_at
        self.latest: str | None = None
        self.latest_at = 0.0
        self.messages = 0
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for message in self.ws:
                self.latest, self.latest_at = str(message), time.perf_counter()
                self.messages += 1
                self.changed.set()
        except ConnectionClosed:
            pass

    async def until(self, expected: str) -> None:
        while self.latest != expected:
            await self.changed.wait()
            self.changed.clear()


async def open_client(url: str) -> Client:
    ws = await connect(url, open_timeout=120, ping_interval=None, max_queue=None)
    return Client(ws, time.perf_counter())


async def worker_rows(database_url: str, server: servers.RunningServer) -> dict[int, int]:
    pids = group_pids(server.process.pid)
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid, connections FROM counter_worker"
            " WHERE heartbeat >= now() - interval '5 seconds' AND pid = ANY($1::int[])",
            pids,
        )
    finally:
        await connection.close()
    return {row["pid"]: row["connections"] for row in rows}


async def wait_for_workers(database_url: str, server: servers.RunningServer, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(await worker_rows(database_url, server)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not register within 60 s")
        await asyncio.sleep(0.2)


async def settled(clients: list[Client], final: str) -> float:
    """When the last client saw the final count (perf_counter)."""
    try:
        async with asyncio.timeout(SETTLE_TIMEOUT):
            await asyncio.gather(*(client.until(final) for client in clients))
    except TimeoutError:
        latest = sorted({client.latest or "-" for client in clients})
        raise RuntimeError(f"not every client saw {final} within {SETTLE_TIMEOUT} s: {latest}") from None
    return max(client.latest_at for client in clients)


async def one_run(mode: str, clients_wanted: int, database_url: str) -> dict:
    with servers.run(COMMANDS[mode], database_url=database_url) as server:
        if mode == "shared":
            await wait_for_workers(database_url, server, 4)
        url = server.url.replace("http://", "ws://", 1) + "/counter"
        started = time.perf_counter()
        clients = await asyncio.gather(*(open_client(url) for _ in range(clients_wanted)))
        last_connect = max(client.connected_at for client in clients)
        all_seen = await settled(clients, str(clients_wanted))
        spread = sorted((await worker_rows(database_url, server)).values()) if mode == "shared" else None
        for client in clients:
            client.reader.cancel()
        await asyncio.gather(*(client.ws.close() for client in clients), return_exceptions=True)
    connect_latencies = sorted(client.connected_at - started for client in clients)
    return {
        "connect_all_s": round(last_connect - started, 3),
        "connect_median_s": round(statistics.median(connect_latencies), 3),
        "last_connect_to_all_saw_final_s": round(max(0.0, all_seen - last_connect), 3),
        "first_attempt_to_all_saw_final_s": round(all_seen - started, 3),
        "messages_per_client_mean": round(statistics.mean(c.messages for c in clients), 1),
        "clients_per_worker": spread,
    }


async def measure(mode: str, clients: int, runs: int, database_url: str) -> dict:
    load_before = [round(load, 2) for load in os.getloadavg()]  # other work on the machine skews figures
    results = []
    for number in range(1, runs + 1):
        result = await one_run(mode, clients, database_url)
        print(f"{mode} run {number}: {result}", flush=True)
        results.append(result)
    command = servers.COMMANDS[COMMANDS[mode]]
    return {
        "mode": mode,
        "command": " ".join([*(f"{k}={v}" for k, v in command.env.items()), command.documented]),
        "clients": clients,
        "runs": results,
        "median": {key: round(statistics.median(run[key] for run in results), 3) for key in MEDIAN_KEYS},
        "environment": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            **{name: version(name) for name in ("starlette", "uvicorn", "websockets", "asyncpg")},
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_markdown() -> Path:
    lines = [
        "# WebSocket counter load check (`python -m bench.counter_load`)",
        "",
        "All clients connect at once from one Python process on the same machine as the server.",
        "Connect: from the first attempt until the last handshake completed. Settle: from the last",
        "handshake until every client had received the final count. Medians over the runs.",
        "",
        "| mode | command | clients | connect all (s) | settle (s) | messages per client | runs |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    everything = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("counter-*.json"))]
    for data in everything:
        messages = statistics.median(run["messages_per_client_mean"] for run in data["runs"])
        lines.append(
            f"| {data['mode']} | `{data['command']}` | {data['clients']} | {data['median']['connect_all_s']} |"
            f" {data['median']['last_connect_to_all_saw_final_s']} | {messages} | {len(data['runs'])} |"
        )
    environment = data["environment"]
    lines += [
        "",
        f"Measured on {environment['cores']} cores, {environment['platform']}, Python {environment['python']};",
        "load average (1, 5, 15 min) before each mode: "
        + ", ".join(f"{d['mode']} {d['environment'].get('load_average_before')}" for d in everything)
        + ".",
    ]
    path = RESULTS / "counter-summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def raise_file_limit(clients: int) -> None:
    # Each client is a socket here and in the server (which inherits this limit): 1000 clients
    # pass the common default of 1024 open files.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients + 200
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            sys.exit(f"error: {clients} clients need {wanted} open files, the hard limit is {hard} (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.counter_load", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["memory", "shared", "both"], default="both")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.runs < 1:
        parser.error("--clients and --runs must be at least 1")
    raise_file_limit(args.clients)
    modes = ["memory", "shared"] if args.mode == "both" else [args.mode]
    RESULTS.mkdir(exist_ok=True)
    with seeded_database() as url:
        for mode in modes:
            result = asyncio.run(measure(mode, args.clients, args.runs, url))
            path = RESULTS / f"counter-{mode}.json"
            path.write_text(json.dumps(result, indent=2) + "\n")
            print(f"{mode}: median {result['median']} -> {path}")
    print(f"summary -> {write_markdown()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
