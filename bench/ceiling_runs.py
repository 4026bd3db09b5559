"""The database-ceiling cells: bench.ceiling in a subprocess per run, with its CPU and Postgres' read meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

from devenv.embedded import REPO_ROOT
from products_db.config import redact

from . import ceiling, latency
from .database import Database
from .figures import Run
from .plan import Cell, Plan
from .processes import CpuMeter, group_pids, postgres_on_port

# Seconds cut from each end of a ceiling run when reading CPU.
CPU_MARGIN_S = 0.25


def measure_ceiling(group: list[Cell], plan: Plan, db: Database, status: Callable[[str], None]) -> None:
    cell = group[0]  # the ceiling runs the /brands query only
    configuration = cell.configuration
    database_url = latency.url_for(db.url, cell.latency_ms)
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
            status(f"{configuration.label} · {cell.latency_ms} ms · run {repeat + 1}/{plan.repeats}")
            cell.runs.append(_one_run(argv, plan.duration_s, db.port))
        cell.status = "ok"
    except Exception as error:
        cell.fail(error)


def _one_run(argv: list[str], duration_s: float, postgres_port: int) -> Run:
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
    time.sleep(max(0.0, start_at - time.time()) + CPU_MARGIN_S)
    meter = CpuMeter({"server": partial(group_pids, process.pid), "postgres": postgres_on_port(postgres_port)})
    with meter:
        time.sleep(max(0.1, duration_s - 2 * CPU_MARGIN_S))
    cpu = meter.percent()  # now, before the pools close
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"bench.ceiling exited with {process.returncode}: {err.strip()[-2000:]}")
    data = json.loads(out.strip().splitlines()[-1])
    figures = {key: data[key] for key in ("requests_per_s", "requests", "duration_s", "errors", "latency_ms")}
    return Run(**figures, cpu_percent=cpu)
