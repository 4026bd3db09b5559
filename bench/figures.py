"""One run's figures (from wrk or the database ceiling) and their statistics over the runs of a cell."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

ERROR_KINDS = ("connect", "read", "write", "timeout", "status")  # wrk's; socket errors are all but status
CPU_GROUPS = ("server", "postgres", "wrk", "machine")


@dataclass
class Run:
    """One measurement: what wrk (or the database ceiling) saw, and the CPU it cost."""

    requests_per_s: float
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    cpu_percent: dict[str, float | None] = field(default_factory=dict)
    drain_s: float = 0.0  # how long the server took afterwards to finish what wrk had left queued
    # wrk's open connections held by each worker process halfway through, most first
    connections_per_worker: list[int] | None = None
    # resident memory of every server process halfway through, MiB
    server_rss_mib: float | None = None

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.get(kind, 0) for kind in ERROR_KINDS if kind != "status")

    def as_dict(self) -> dict:
        return {**asdict(self), "socket_errors": self.socket_errors}


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarize(runs: list[Run]) -> dict:
    """A cell's figures over its runs: medians, extremes and sums."""
    if not runs:
        return {}
    rates = [run.requests_per_s for run in runs]
    return {
        "requests_per_s": {"median": round(statistics.median(rates), 1), "min": min(rates), "max": max(rates)},
        "p99_ms_median": round(statistics.median(run.latency_ms["p99"] for run in runs), 2),
        "socket_errors": sum(run.socket_errors for run in runs),
        "errors": {kind: sum(run.errors.get(kind, 0) for run in runs) for kind in ERROR_KINDS},
        "requests": sum(run.requests for run in runs),
        "cpu_percent_median": {name: median_of([_cpu(run, name) for run in runs]) for name in CPU_GROUPS},
        "server_rss_mib_median": median_of([run.server_rss_mib for run in runs]),
        "server_cpu_us_per_request_median": median_of([_server_cpu_us_per_request(run) for run in runs]),
    }


def _cpu(run: Run, name: str) -> float | None:
    value = run.cpu_percent.get(name)
    return value if value is not None and value >= 0 else None  # below 0: a process vanished unaccounted


def _server_cpu_us_per_request(run: Run) -> float | None:
    """CPU the server's processes spent per answered request, in microseconds."""
    server = _cpu(run, "server")
    if not run.requests or not server:
        return None
    return server / 100 * run.duration_s / run.requests * 1e6
