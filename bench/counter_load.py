"""Load check of the WebSocket user counter: N clients at once, on one worker, four sharing the count, or a cluster.

    python -m bench.counter_load [--mode memory,shared,...] [--clients 1000] [--runs 3] [--processes 4]

Modes: memory (the book's counter, one worker), memory-deflate (the same with uvicorn's default
per-message-deflate on, to show what turning it off saves), shared (four gunicorn workers sharing the
count through Postgres), cluster (three hosts behind nginx, `python -m scale_out`; needs nginx).
Each run starts the mode's documented command and reports: how long N concurrent connects take (first
attempt to last handshake done), how long after the last connect every client has seen the final
count N, the counts each client received, how the clients spread over the workers, and the server's
resident memory per client ((RSS with N clients - RSS with none) / N, every process of the server).
The clients run in several processes (bench/counter_clients.py) on the same machine as the server;
their CPU is reported beside the server's, so a generator that saturates shows. Results go to
bench/results/counter-summary.json (a run of some modes keeps the others) and counter-summary.md.
Uses DATABASE_URL if set, else a throwaway embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import asyncpg

from devenv import servers
from devenv.throwaway import seeded_database

from .counter_clients import IN_FLIGHT, Generator
from .processes import CpuMeter, connections_per_worker, group_pids, raise_file_limit, rss_mib, run_main

RESULTS = Path(__file__).resolve().parent / "results"
SUMMARY = "counter-summary"


@dataclass(frozen=True)
class Mode:
    label: str
    command: str  # the registry's name (devenv/commands.py)
    extra_args: str = ""
    workers: int = 1  # workers that register in counter_worker (shared count); 1 = in memory, none register


MODES = {
    "memory": Mode("memory, 1 worker", "counter"),
    # uvicorn's own default, what the documented command turns off: the "before" of memory per client.
    "memory-deflate": Mode("memory, 1 worker, per-message-deflate on", "counter", "--ws-per-message-deflate true"),
    "shared": Mode("shared, 4 workers", "counter-shared", workers=4),
    "cluster": Mode("cluster of 3 hosts behind nginx", "cluster", workers=3),
}
MEDIAN_KEYS = (
    "connect_all_s",
    "connect_median_s",
    "last_connect_to_all_saw_final_s",
    "first_attempt_to_all_saw_final_s",
    "messages_per_client_mean",
    "server_kib_per_client",
    "server_cpu_percent",
    "generator_cpu_percent",
)


async def worker_rows(database_url: str, pids: list[int]) -> dict[int, int]:
    """Clients per worker, as each worker's row in counter_worker says (the shared count's own table)."""
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


async def wait_for_workers(database_url: str, pgid: int, count: int, clients: int = 0) -> dict[int, int]:
    """Until `count` workers of this server have rows whose clients add up to `clients`."""
    deadline = time.monotonic() + 60
    while True:
        rows = await worker_rows(database_url, group_pids(pgid))
        if len(rows) >= count and sum(rows.values()) == clients:
            return rows
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected {count} workers holding {clients} clients within 60 s, got {rows}")
        await asyncio.sleep(0.2)


async def one_run(mode: str, clients: int, database_url: str, processes: int) -> dict:
    spec = MODES[mode]
    with servers.run(spec.command, database_url=database_url, extra_args=spec.extra_args) as server:
        pgid = server.process.pid
        if spec.workers > 1:
            await wait_for_workers(database_url, pgid, spec.workers)
        await asyncio.sleep(1.0)  # the start's last allocations, before the baseline
        rss_before = rss_mib(group_pids(pgid))
        load = [round(load, 2) for load in os.getloadavg()]  # other work on the machine skews figures
        url = server.url.replace("http://", "ws://", 1) + "/counter"
        with Generator(url, clients, processes) as generator:
            with CpuMeter({"server": lambda: group_pids(pgid)}) as meter:
                reports = await asyncio.to_thread(generator.run)
            cpu = meter.percent()
            rss_after = rss_mib(group_pids(pgid))
            if spec.workers > 1:
                spread = sorted((await wait_for_workers(database_url, pgid, spec.workers, clients)).values())
            else:
                spread = connections_per_worker(pgid, server.port)
    started = min(report.started for report in reports)
    connected = sorted(at for report in reports for at in report.connected_at)
    all_seen = max(report.last_new_count_at for report in reports)
    window = all_seen - started
    generator_cpu = sum(report.cpu_s for report in reports)
    return {
        "connect_all_s": round(connected[-1] - started, 3),
        "connect_median_s": round(statistics.median(connected) - started, 3),
        "last_connect_to_all_saw_final_s": round(max(0.0, all_seen - connected[-1]), 3),
        "first_attempt_to_all_saw_final_s": round(window, 3),
        "messages_per_client_mean": round(statistics.mean(n for r in reports for n in r.messages), 2),
        "clients_per_worker": spread,
        "server_rss_mib_without_clients": rss_before,
        "server_rss_mib_with_clients": rss_after,
        "server_kib_per_client": round((rss_after - rss_before) * 1024 / clients, 1),
        "server_cpu_percent": cpu["server"],  # percent of one core, from the generator's start to the last count
        "machine_cpu_percent": cpu["machine"],
        "generator_processes": len(reports),
        "generator_cpu_s": round(generator_cpu, 2),
        "generator_cpu_percent": round(100 * generator_cpu / window, 1),
        "load_average_before": load,
    }


async def measure(mode: str, clients: int, runs: int, database_url: str, processes: int) -> dict:
    results = []
    for number in range(1, runs + 1):
        result = await one_run(mode, clients, database_url, processes)
        print(f"{mode} run {number}: {result}", flush=True)
        results.append(result)
    spec = MODES[mode]
    command = servers.COMMANDS[spec.command]
    env = [f"{key}={value}" for key, value in command.env.items()]
    return {
        "mode": mode,
        "label": spec.label,
        "command": " ".join([*env, command.documented, spec.extra_args]).strip(),
        "clients": clients,
        "generator": {"processes": processes, "handshakes_in_flight": IN_FLIGHT},
        "runs": results,
        "median": {key: round(statistics.median(run[key] for run in results), 3) for key in MEDIAN_KEYS},
        "environment": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            **{name: version(name) for name in ("starlette", "uvicorn", "websockets", "asyncpg")},
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def table(results: dict) -> list[str]:
    """The summary's table, one row per mode measured (also rendered into starlette_app/README.md)."""
    lines = [
        "| mode | clients | connect all | last connect until every client saw the final count | counts per client"
        " | clients per worker | server memory per client | server CPU | generator CPU |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for data in (results[mode] for mode in MODES if mode in results):
        median = data["median"]
        runs = sorted(data["runs"], key=lambda run: run["connect_all_s"])
        spread = runs[(len(runs) - 1) // 2]["clients_per_worker"]
        lines.append(
            f"| {data['label']} | {data['clients']:,} | {seconds(median['connect_all_s'])} |"
            f" {seconds(median['last_connect_to_all_saw_final_s'])} | {median['messages_per_client_mean']:.1f} |"
            f" {' / '.join(f'{n:,}' for n in spread)} | {median['server_kib_per_client']:.1f} KiB |"
            f" {median['server_cpu_percent']:.0f}% | {median['generator_cpu_percent']:.0f}% |"
        )
    return lines


def readme(results: dict, link: str) -> list[str]:
    """The region of starlette_app/README.md that python -m bench.docs renders from counter-summary.json."""
    dates = sorted({data["measured_at"][:10] for data in results.values()})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    lines = [
        f"The last `python -m bench.counter_load` runs, {when},"
        f" {next(iter(results.values()))['environment']['cores']} cores, clients and server on the same machine"
        f" ({link}: how each figure is measured, the commands, every run). Medians:",
        "",
        *table(results),
    ]
    if "memory" in results and "memory-deflate" in results:
        on, off = (results[mode]["median"]["server_kib_per_client"] for mode in ("memory-deflate", "memory"))
        lines += [
            "",
            f"Memory per client with per-message-deflate on (uvicorn's default): {on:.1f} KiB; off, as the"
            f" documented commands run it: {off:.1f} KiB ({off / on:.0%} of it).",
        ]
    return lines


def write_markdown(results: dict, out: Path) -> Path:
    everything = list(results.values())
    lines = [
        "# WebSocket counter load check (`python -m bench.counter_load`)",
        "",
        "All clients connect at once (at most "
        f"{IN_FLIGHT} handshakes in flight) from several processes on the same machine as the server. Connect all:",
        "from the first attempt until the last handshake completed. Then: from the last handshake until every",
        "client had received the final count. Memory: the server's resident memory (every process) with the",
        "clients connected minus without them, divided by the clients. CPU: percent of one core, from the first",
        "attempt until the last client saw the final count. Medians over the runs; the spread is a middle run's.",
        "",
        *table(results),
        "",
        "| mode | command | runs | generator processes | measured | load average before (1, 5, 15 min) |",
        "|---|---|---:|---:|---|---|",
        *(
            f"| {d['label']} | `{d['command']}` | {len(d['runs'])} | {d['generator']['processes']} |"
            f" {d['measured_at']} | {', '.join(str(run['load_average_before']) for run in d['runs'])} |"
            for d in everything
        ),
        "",
        f"Measured on {everything[0]['environment']['cores']} cores, {everything[0]['environment']['platform']},"
        f" Python {everything[0]['environment']['python']}.",
    ]
    path = out / f"{SUMMARY}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.counter_load", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="memory,shared", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4, help="processes of the load generator")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where counter-summary.json and .md go")
    args = parser.parse_args(argv)
    modes = args.mode.split(",")
    if unknown := [mode for mode in modes if mode not in MODES]:
        parser.error(f"unknown mode {', '.join(unknown)}; the modes are {', '.join(MODES)}")
    if args.clients < 1 or args.runs < 1 or args.processes < 1:
        parser.error("--clients, --runs and --processes must be at least 1")
    raise_file_limit(args.clients)
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.out / f"{SUMMARY}.json"
    results = json.loads(source.read_text()) if source.exists() else {}
    with seeded_database() as url:
        for mode in modes:
            results[mode] = asyncio.run(measure(mode, args.clients, args.runs, url, args.processes))
            source.write_text(json.dumps(results, indent=2) + "\n")
            print(f"{mode}: median {results[mode]['median']} -> {source}", flush=True)
    print(f"summary -> {write_markdown(results, args.out)}")
    return 0


if __name__ == "__main__":
    run_main(main)
