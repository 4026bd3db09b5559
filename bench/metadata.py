"""What the results must say about how and where they were measured: machine, versions, database, plan."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from datetime import UTC, datetime

import psutil

from .database import Database
from .plan import Plan
from .wrk import wrk_version

LATENCY_METHOD = (
    "per latency L: schema latL of views over the real tables joined with a MATERIALIZED "
    "CTE (SELECT pg_sleep(L/1000)), role bench_latL with search_path = latL, public; "
    "the apps get DATABASE_URL with that role (bench/latency.py)"
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
    }


def packages() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    found = {dist.metadata["Name"]: dist.version for dist in importlib.metadata.distributions()}
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def python() -> dict:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def meta(plan: Plan, db: Database, started: datetime, clock: float) -> dict:
    """The results' "meta": started is the wall-clock start, clock the time.monotonic() one."""
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - clock, 1),
        "machine": machine(),
        "python": python(),
        "wrk": wrk_version(),
        "postgres": db.postgres,
        "database": db.source,
        "latency_method": LATENCY_METHOD,
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
        "packages": packages(),
    }
