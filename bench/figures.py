"""One run's figures (from wrk or the database ceiling) and their statistics over the runs of a cell."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


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
        return sum(self.errors.get(kind, 0) for kind in ("connect", "read", "write", "timeout"))

    def as_dict(self) -> dict:
        return {**asdict(self), "socket_errors": self.socket_errors}


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarize(runs: list[Run]) -> dict:
    if not runs:
        return {}
    rates = [run.requests_per_s for run in runs]
    p99 = [run.latency_ms["p99"] for run in runs]

    def median_cpu(name: str) -> float | None:
        # A negative reading (a process vanished unaccounted) is no figure.
        return median_of([v if (v := run.cpu_percent.get(name)) is not None and v >= 0 else None for run in runs])

    return {
        "requests_per_s": {
            "median": round(statistics.median(rates), 1),
            "min": min(rates),
            "max": max(rates),
        },
        "p99_ms_median": round(statistics.median(p99), 2),
        "socket_errors": sum(run.socket_errors for run in runs),
        "errors": {
            kind: sum(run.errors.get(kind, 0) for run in runs)
            for kind in ("connect", "read", "write", "timeout", "status")
        },
        "requests": sum(run.requests for run in runs),
        "cpu_percent_median": {name: median_cpu(name) for name in ("server", "postgres", "wrk", "machine")},
        "server_rss_mib_median": median_of([run.server_rss_mib for run in runs]),
        # CPU the server's processes spent per answered request, in microseconds
        "server_cpu_us_per_request_median": median_of(
            [
                run.cpu_percent["server"] / 100 * run.duration_s / run.requests * 1e6
                if run.requests and (run.cpu_percent.get("server") or -1) >= 0
                else None
                for run in runs
            ]
        ),
    }
