"""The server cells: start a configuration's documented command once, then probe, warm up and run wrk per endpoint."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from devenv import servers
from devenv.embedded import free_port
from products_db.config import redact

from . import latency
from .database import Database
from .figures import Run
from .plan import Cell, Configuration, Plan
from .processes import connections_per_worker, group_pids, postgres_on_port, rss_mib
from .wrk import run_wrk, wrk_argv

# Connections Postgres keeps for itself and for us (superuser slots, our own checks).
SPARE_CONNECTIONS = 10

Status = Callable[[str], None]


def serve(group: list[Cell], plan: Plan, db: Database, status: Status) -> None:
    """Measure every cell of one server start; on a failure the cells not yet measured say why."""
    configuration = group[0].configuration
    needed = connections_needed(configuration, plan)
    if configuration.uses_database and needed > db.max_connections - SPARE_CONNECTIONS:
        for cell in group:
            cell.fail(f"needs {needed} connections, Postgres allows {db.max_connections}")
        return
    try:
        _start_and_measure(group, plan, db, status)
    except Exception as error:  # one broken server must not sink the whole matrix
        for cell in group:
            if cell.status != "ok":
                cell.fail(error)


def connections_needed(configuration: Configuration, plan: Plan) -> int:
    if configuration.pool_size is None and configuration.in_flight_per_process is None:
        return plan.connections  # a connection per request: at worst one per wrk connection
    per_process = configuration.pool_size or configuration.in_flight_per_process or 1
    return configuration.processes * per_process


def _start_and_measure(group: list[Cell], plan: Plan, db: Database, status: Status) -> None:
    configuration = group[0].configuration
    assert configuration.server is not None  # a server's row (the database ceiling is measured apart)
    command = servers.COMMANDS[configuration.server]
    env = dict(configuration.env)
    if configuration.pool_size is not None:
        env.setdefault("DB_POOL_SIZE", str(configuration.pool_size))
    port = free_port()
    database_url = latency.url_for(db.url, group[0].latency_ms)
    described = _described(command, configuration, port, env, database_url)
    with servers.run(
        command,
        port=port,
        database_url=database_url,
        env=env,
        extra_args=configuration.extra_args,
        ready_timeout=120,
    ) as server:
        started = Started(plan, db, server, described, status)
        for cell in group:
            started.measure(cell, warm_up=cell is group[0])


def _described(
    command: servers.ServerCommand, configuration: Configuration, port: int, env: dict[str, str], database_url: str
) -> dict:
    """The server's command line for the results, with what it gets beyond our own environment."""
    if configuration.uses_database:
        env = {**env, "DATABASE_URL": redact(database_url)}
    return {
        "registry_name": command.name,
        "documented": command.documented,
        "argv": command.argv(port, configuration.extra_args),
        "cwd": command.cwd,
        "env": {**command.env, **env},
    }


@dataclass
class Started:
    """A running server and what every cell measured on it shares."""

    plan: Plan
    db: Database
    server: servers.RunningServer
    described: dict  # the command, for the results
    status: Status

    def measure(self, cell: Cell, warm_up: bool) -> None:
        plan, name = self.plan, f"{cell.configuration.label} · {cell.latency_ms} ms"
        url = self.server.url + ("/products/1" if cell.endpoint.random_product else cell.endpoint.path)
        cell.probe_ms = probe(url)
        if cell.probe_ms < cell.latency_ms:
            raise RuntimeError(
                f"a request took {cell.probe_ms} ms, less than the added {cell.latency_ms} ms: "
                "the latency views are not in use"
            )
        if warm_up and plan.warmup_s > 0:
            self.status(f"{name} · warm-up")
            run_wrk(url, duration_s=plan.warmup_s, **plan.wrk_options)
            drain(url)
        max_id = self.db.max_product_id if cell.endpoint.random_product else 0
        wrk = wrk_argv(url, duration_s=plan.duration_s, **plan.wrk_options)
        cell.command = {**self.described, "wrk": [*([f"BENCH_MAX_PRODUCT_ID={max_id}"] if max_id else []), *wrk]}
        for repeat in range(plan.repeats):
            self.status(f"{name} · {cell.endpoint.path} · run {repeat + 1}/{plan.repeats}")
            cell.runs.append(self._run(url, max_id, cell.configuration.uses_database))
        cell.status = "ok"

    def _run(self, url: str, max_product_id: int, uses_database: bool) -> Run:
        pid, port = self.server.process.pid, self.server.port
        cpu_groups: dict[str, Callable[[], list[int]]] = {"server": partial(group_pids, pid)}
        if uses_database:
            cpu_groups["postgres"] = postgres_on_port(self.db.port)
        run = run_wrk(
            url,
            duration_s=self.plan.duration_s,
            max_product_id=max_product_id,
            cpu_groups=cpu_groups,
            halfway=lambda: (connections_per_worker(pid, port), rss_mib(group_pids(pid))),
            **self.plan.wrk_options,
        )
        run.drain_s = drain(url)
        return run


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
