"""Runs the matrix: the database, then each server in turn, wrk against it, and the database ceiling."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from products_db import servers
from products_db.config import redact
from products_db.embedded import REPO_ROOT, free_port
from products_db.throwaway import seeded_database

from . import ceiling, latency, metadata
from .configurations import Configuration
from .figures import Run
from .plan import Cell, Plan, plan_cells
from .processes import CpuMeter, connections_per_worker, postgres_on_port, process_group
from .wrk import run_wrk, wrk_argv, wrk_version

# Seconds a server takes to start and stop, for the time estimate only.
START_STOP_S = 4.0
# Seconds cut from each end of a ceiling run when reading CPU.
CEILING_CPU_MARGIN_S = 0.25
# Connections Postgres keeps for itself and for us (superuser slots, our own checks).
SPARE_CONNECTIONS = 10


@contextmanager
def database() -> Iterator[tuple[str, str]]:
    """DATABASE_URL if set, else a throwaway embedded Postgres that dies with the run.

    A throwaway server by default: the benchmark adds roles and schemas, which do
    not belong in the `make db` database a reader pokes at, and every run starts
    from the same state with the same settings (max_connections 300).
    """
    with seeded_database() as url:
        if os.environ.get("DATABASE_URL"):
            yield url, f"DATABASE_URL ({redact(url)})"
        else:
            yield url, "throwaway embedded Postgres (products_db.throwaway), seeded by products_db.schema"


def estimate_s(plan: Plan, group: list[Cell]) -> float:
    measuring = len(group) * plan.repeats * plan.duration_s
    if group[0].configuration.kind == "db ceiling":
        return measuring + plan.repeats * (ceiling.SETUP_S + 1)
    return START_STOP_S + plan.warmup_s + measuring


def probe(url: str, attempts: int = 3) -> float:
    """The fastest of a few single requests, in ms; raises unless every answer is 200."""
    best = float("inf")
    for _ in range(attempts):
        began = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url} answered {response.status}")
        best = min(best, (time.perf_counter() - began) * 1000)
    return round(best, 2)


def drain(url: str, limit_s: float = 90.0) -> float:
    """Wait until the server has worked through what the last wrk run left queued; returns the seconds.

    wrk closes a connection that timed out, but a sync worker still serves the
    request it already accepted, to nobody. Without this wait the next run would
    start behind that dead backlog and measure the previous run's overload. One
    request waits its turn behind the backlog, so its answer means the queue is empty.
    """
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        try:
            with urllib.request.urlopen(url, timeout=limit_s) as response:
                response.read()
            break
        except urllib.error.HTTPError:
            break  # an answer all the same
        except OSError:
            time.sleep(0.2)
    return round(time.monotonic() - began, 2)


class Runner:
    def __init__(self, plan: Plan, console: Console):
        self.plan = plan
        self.console = console
        self.groups = plan_cells(plan)

    def run(self) -> dict:
        plan = self.plan
        started = datetime.now(UTC)
        clock = time.monotonic()
        with database() as (base_url, database_source):
            postgres = asyncio.run(metadata.postgres(base_url))
            self.base_url = base_url
            self.postgres_port = urlsplit(base_url).port or 5432
            self.max_product_id = postgres["max_product_id"]
            self.max_connections = postgres["max_connections"]
            asyncio.run(latency.install(base_url, plan.latencies_ms))
            try:
                self._run_groups()
            finally:
                asyncio.run(latency.uninstall(base_url, plan.latencies_ms))
        finished = datetime.now(UTC)
        return {
            "meta": {
                "started": started.isoformat(timespec="seconds"),
                "finished": finished.isoformat(timespec="seconds"),
                "wall_s": round(time.monotonic() - clock, 1),
                "machine": metadata.machine(),
                "python": metadata.python(),
                "wrk": wrk_version(),
                "postgres": {k: v for k, v in postgres.items() if k != "max_product_id"},
                "database": database_source,
                "latency_method": (
                    "per latency L: schema latL of views over the real tables joined with a MATERIALIZED "
                    "CTE (SELECT pg_sleep(L/1000)), role bench_latL with search_path = latL, public; "
                    "the apps get DATABASE_URL with that role (bench/latency.py)"
                ),
                "plan": {
                    "latencies_ms": plan.latencies_ms,
                    "duration_s": plan.duration_s,
                    "repeats": plan.repeats,
                    "warmup_s": plan.warmup_s,
                    "connections": plan.connections,
                    "threads": plan.threads,
                    "timeout_s": plan.timeout_s,
                    "products_configurations": plan.products_configs,
                    "products_latencies_ms": plan.products_latencies_ms,
                },
                "command_line": [os.path.basename(sys.executable), "-m", "bench", *sys.argv[1:]],
                "packages": metadata.packages(),
            },
            "cells": [cell.as_dict() for group in self.groups for cell in group],
        }

    def _run_groups(self) -> None:
        total = sum(estimate_s(self.plan, group) for group in self.groups)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task("starting", total=total)
            for group in self.groups:
                first = group[0]
                configuration = first.configuration
                label = f"{configuration.label} · {first.latency_ms} ms"
                progress.update(task, description=label)
                if not configuration.present():
                    for cell in group:
                        cell.status, cell.reason = "skipped", "package not present"
                    progress.console.print(f"[yellow]skipped[/]  {label}: package not present")
                elif configuration.kind == "db ceiling":
                    self._ceiling(group, progress, task)
                else:
                    self._server(group, progress, task)
                for cell in group:
                    self._report_line(progress, cell)
                progress.update(task, advance=estimate_s(self.plan, group))

    def _report_line(self, progress: Progress, cell: Cell) -> None:
        name = f"{cell.configuration.label} · {cell.latency_ms} ms · {cell.endpoint.path}"
        if cell.status == "failed":
            progress.console.print(f"[red]failed[/]   {name}: {cell.reason.splitlines()[0]}")
        elif cell.status == "ok":
            s = cell.summary()
            rate = s["requests_per_s"]
            progress.console.print(
                f"[green]measured[/] {name}: {rate['median']:,.0f} req/s "
                f"({rate['min']:,.0f}-{rate['max']:,.0f}), p99 {s['p99_ms_median']:,.0f} ms, "
                f"socket errors {s['socket_errors']}, HTTP errors {s['errors']['status']}"
            )

    def _connections_needed(self, configuration: Configuration) -> int:
        if configuration.pool_size is None and configuration.in_flight_per_process is None:
            return self.plan.connections  # a connection per request: at worst one per wrk connection
        per_process = configuration.pool_size or configuration.in_flight_per_process or 1
        return configuration.processes * per_process

    def _server(self, group: list[Cell], progress: Progress, task) -> None:
        plan = self.plan
        configuration = group[0].configuration
        latency_ms = group[0].latency_ms
        command = servers.COMMANDS[configuration.server]
        env = dict(configuration.env)
        if configuration.pool_size is not None:
            env.setdefault("DB_POOL_SIZE", str(configuration.pool_size))
        needed = self._connections_needed(configuration)
        if configuration.uses_database and needed > self.max_connections - SPARE_CONNECTIONS:
            for cell in group:
                cell.status = "failed"
                cell.reason = f"needs {needed} connections, Postgres allows {self.max_connections}"
            return
        port = free_port()
        database_url = latency.url_for(self.base_url, latency_ms)
        description = {
            "registry_name": command.name,
            "documented": command.documented,
            "argv": command.argv(port, configuration.extra_args),
            "cwd": str((REPO_ROOT / command.cwd).relative_to(REPO_ROOT)),
            "env": {**env, "DATABASE_URL": redact(database_url)} if configuration.uses_database else env,
        }
        try:
            with servers.run(
                command,
                port=port,
                database_url=database_url,
                env=env,
                extra_args=configuration.extra_args,
                ready_timeout=120,
            ) as server:
                cpu_groups = {"server": process_group(server.process.pid)}
                if configuration.uses_database:
                    cpu_groups["postgres"] = postgres_on_port(self.postgres_port)
                for cell in group:
                    url = server.url + ("/products/1" if cell.endpoint.random_product else cell.endpoint.path)
                    cell.probe_ms = probe(url)
                    if cell.probe_ms < latency_ms:
                        raise RuntimeError(
                            f"a request took {cell.probe_ms} ms, less than the added {latency_ms} ms: "
                            "the latency views are not in use"
                        )
                    wrk_options = {
                        "connections": plan.connections,
                        "threads": plan.threads,
                        "timeout_s": plan.timeout_s,
                    }
                    if cell is group[0] and plan.warmup_s > 0:
                        progress.update(task, description=f"{configuration.label} · {latency_ms} ms · warm-up")
                        run_wrk(url, duration_s=plan.warmup_s, **wrk_options)
                        drain(url)
                    max_id = self.max_product_id if cell.endpoint.random_product else 0
                    cell.command = {
                        **description,
                        "wrk": [
                            *([f"BENCH_MAX_PRODUCT_ID={max_id}"] if max_id else []),
                            *wrk_argv(url, duration_s=plan.duration_s, **wrk_options),
                        ],
                    }
                    for repeat in range(plan.repeats):
                        progress.update(
                            task,
                            description=f"{configuration.label} · {latency_ms} ms · {cell.endpoint.path}"
                            f" · run {repeat + 1}/{plan.repeats}",
                        )
                        run, _ = run_wrk(
                            url,
                            duration_s=plan.duration_s,
                            max_product_id=max_id,
                            cpu_groups=cpu_groups,
                            midway=connections_per_worker(server.process.pid, server.port),
                            server=cpu_groups["server"],
                            **wrk_options,
                        )
                        run.drain_s = drain(url)
                        cell.runs.append(run)
                    cell.status = "ok"
        except Exception as error:  # one broken server must not sink the whole matrix
            for cell in group:
                if cell.status != "ok":
                    cell.status, cell.reason = "failed", f"{type(error).__name__}: {error}"[:3000]

    def _ceiling(self, group: list[Cell], progress: Progress, task) -> None:
        plan = self.plan
        configuration = group[0].configuration
        latency_ms = group[0].latency_ms
        cell = group[0]
        database_url = latency.url_for(self.base_url, latency_ms)
        argv = [
            sys.executable,
            "-m",
            "bench.ceiling",
            database_url,
            f"--concurrency={plan.connections}",
            f"--processes={configuration.processes}",
            f"--duration={plan.duration_s:g}",
            f"--pool-size={configuration.ceiling_pool}",
        ]
        cell.command = {"argv": [*argv[:3], redact(database_url), *argv[4:]], "cwd": "."}
        try:
            for repeat in range(plan.repeats):
                progress.update(
                    task,
                    description=f"{configuration.label} · {latency_ms} ms · run {repeat + 1}/{plan.repeats}",
                )
                start_at = time.time() + ceiling.SETUP_S
                process = subprocess.Popen(
                    [*argv, f"--start-at={start_at}"],
                    cwd=REPO_ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                # CPU is read inside the measured window, a little short of both ends:
                # at its end the pools close and their backends exit.
                time.sleep(max(0.0, start_at - time.time()) + CEILING_CPU_MARGIN_S)
                meter = CpuMeter(
                    {"server": process_group(process.pid), "postgres": postgres_on_port(self.postgres_port)}
                )
                with meter:
                    time.sleep(max(0.1, plan.duration_s - 2 * CEILING_CPU_MARGIN_S))
                cpu = meter.percent()
                out, err = process.communicate(timeout=120)
                if process.returncode != 0:
                    raise RuntimeError(f"bench.ceiling exited with {process.returncode}: {err.strip()[-2000:]}")
                data = json.loads(out.strip().splitlines()[-1])
                cell.runs.append(
                    Run(
                        requests_per_s=data["requests_per_s"],
                        requests=data["requests"],
                        duration_s=data["duration_s"],
                        errors=data["errors"],
                        latency_ms=data["latency_ms"],
                        cpu_percent=cpu,
                    )
                )
            cell.status = "ok"
        except Exception as error:
            cell.status, cell.reason = "failed", f"{type(error).__name__}: {error}"[:3000]
