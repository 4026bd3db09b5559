"""The model of a run: a configuration (one row), the plan (which rows, latencies, endpoints), one cell per figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from products_db.config import DEFAULT_POOL_SIZE

from .figures import Run, summarize


@dataclass(frozen=True, kw_only=True)
class Configuration:
    """One way to serve the API: a registry command, the arguments appended to it, and what bounds it."""

    key: str
    label: str
    app: str  # aiohttp, flask, starlette, django, raw-wsgi, raw-asgi, db
    kind: str  # "sync", "async", "http ceiling", "db ceiling"
    processes: int
    server: str | None = None  # name in devenv.servers.COMMANDS; None for the database ceiling
    extra_args: str = ""
    env: dict[str, str] = field(default_factory=dict)
    book: bool = False  # the book's own command line, nothing appended
    # Requests one process can have waiting on the database at once: a sync
    # worker 1, a threaded worker its threads, an async app its pool.
    in_flight_per_process: int | None = None
    bound: str = ""  # what limits concurrency, in words
    ceiling_pool: int = 0  # database ceiling only: connections per process (0: one per client)
    only_latencies_ms: tuple[int, ...] | None = None  # measured at these latencies only (None: every one)

    @property
    def uses_database(self) -> bool:
        return self.app not in ("raw-wsgi", "raw-asgi")

    @property
    def pool_size(self) -> int | None:
        if self.app == "db":
            return self.ceiling_pool or None
        if not self.uses_database:
            return None
        return int(self.env.get("DB_POOL_SIZE", DEFAULT_POOL_SIZE))

    @property
    def in_flight(self) -> int | None:
        if self.in_flight_per_process is None:
            return None
        return self.processes * self.in_flight_per_process


@dataclass(frozen=True)
class Endpoint:
    path: str
    random_product: bool = False  # wrk draws /products/{id} with a random existing id


BRANDS = Endpoint("/brands")
PRODUCTS = Endpoint("/products/{id}", random_product=True)
ROOT = Endpoint("/")  # the raw apps answer any path without touching a database


@dataclass
class Plan:
    """The matrix: which configurations, at which latencies, on which endpoints, for how long."""

    configurations: list[Configuration]
    latencies_ms: list[int]
    duration_s: float
    repeats: int
    warmup_s: float
    connections: int
    threads: int
    timeout_s: float
    # Endpoints beyond /brands, and the latencies they are measured at.
    products_configs: list[str]
    products_latencies_ms: list[int]
    output: Path

    @property
    def wrk_options(self) -> dict:
        return {"connections": self.connections, "threads": self.threads, "timeout_s": self.timeout_s}

    def latencies_for(self, configuration: Configuration) -> list[int]:
        # The raw apps never touch the database: added latency cannot change them.
        if not configuration.uses_database:
            return [0]
        if configuration.only_latencies_ms is not None:
            return [ms for ms in configuration.only_latencies_ms if ms in self.latencies_ms]
        return self.latencies_ms

    def endpoints_for(self, configuration: Configuration, latency_ms: int) -> list[Endpoint]:
        if not configuration.uses_database:
            return [ROOT]
        endpoints = [BRANDS]
        if configuration.key in self.products_configs and latency_ms in self.products_latencies_ms:
            endpoints.append(PRODUCTS)
        return endpoints


@dataclass
class Cell:
    """One figure of the results: a configuration at one added latency on one endpoint."""

    configuration: Configuration
    latency_ms: int
    endpoint: Endpoint
    status: str = "pending"  # ok or failed once measured
    reason: str = ""
    runs: list[Run] = field(default_factory=list)
    command: dict = field(default_factory=dict)
    probe_ms: float | None = None

    def summary(self) -> dict:
        return summarize(self.runs)

    def fail(self, reason: Exception | str) -> None:
        if isinstance(reason, Exception):
            reason = f"{type(reason).__name__}: {reason}"
        self.status, self.reason = "failed", reason[:3000]

    def as_dict(self) -> dict:
        c = self.configuration
        return {
            "configuration": c.key,
            "label": c.label,
            "app": c.app,
            "kind": c.kind,
            "book": c.book,
            "processes": c.processes,
            "pool_size_per_process": c.pool_size,
            "in_flight_max": c.in_flight,
            "bound": c.bound,
            # A process can finish at most in_flight / latency requests per second.
            "latency_bound_requests_per_s": (
                round(c.in_flight * 1000 / self.latency_ms) if c.in_flight and self.latency_ms else None
            ),
            "latency_ms": self.latency_ms,
            "endpoint": self.endpoint.path,
            "status": self.status,
            "reason": self.reason,
            "probe_ms": self.probe_ms,
            "command": self.command,
            "summary": self.summary(),
            "runs": [run.as_dict() for run in self.runs],
        }


def plan_cells(plan: Plan) -> list[list[Cell]]:
    """Cells grouped by server start: one start serves every endpoint at one latency."""
    groups = []
    for configuration in plan.configurations:
        for latency_ms in plan.latencies_for(configuration):
            groups.append([Cell(configuration, latency_ms, e) for e in plan.endpoints_for(configuration, latency_ms)])
    return groups
