"""Running wrk once and reading its figures, with the CPU time the server and Postgres spent meanwhile."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .figures import Run
from .processes import CpuMeter

LUA_SCRIPT = Path(__file__).resolve().parent / "report.lua"
INSTALL_HINT = "install it: `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"


class WrkMissing(RuntimeError):
    """wrk is not on PATH; the message says how to install it."""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(f"wrk is not installed: {INSTALL_HINT}")
    return path


def wrk_version() -> str:
    result = subprocess.run([wrk_path(), "--version"], capture_output=True, text=True)
    return (result.stdout or result.stderr).splitlines()[0].split(" Copyright")[0].strip()


def wrk_argv(url: str, *, connections: int, threads: int, duration_s: float, timeout_s: float) -> list[str]:
    return [
        wrk_path(),
        "--latency",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        f"--script={LUA_SCRIPT}",
        url,
    ]


def run_wrk(
    url: str,
    *,
    connections: int,
    threads: int,
    duration_s: float,
    timeout_s: float,
    max_product_id: int = 0,
    cpu_groups: dict[str, Callable[[], list[int]]] | None = None,
    halfway: Callable[[], tuple[list[int], float]] | None = None,
) -> Run:
    """Run wrk once and parse its figures, with the CPU of cpu_groups meanwhile.

    halfway, if given, is called halfway through the run: wrk's connections per
    worker process and the server's memory.
    """
    argv = wrk_argv(url, connections=connections, threads=threads, duration_s=duration_s, timeout_s=timeout_s)
    env = {**os.environ, **({"BENCH_MAX_PRODUCT_ID": str(max_product_id)} if max_product_id else {})}
    children_before = _children_cpu_s()
    with CpuMeter(cpu_groups or {}) as meter:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        output, readings = _output(process, duration_s / 2, halfway)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}: {output.strip()}")
    # wrk is the only child reaped during the run, so the children's clock is its CPU.
    wrk_percent = round(100 * (_children_cpu_s() - children_before) / meter.elapsed, 1)
    run = parse(output, {**meter.percent(), "wrk": wrk_percent})
    run.connections_per_worker, run.server_rss_mib = readings or (None, None)
    return run


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _output(
    process: subprocess.Popen, after_s: float, halfway: Callable[[], tuple[list[int], float]] | None
) -> tuple[str, tuple[list[int], float] | None]:
    """wrk's output, and the halfway readings (None if not asked for, or wrk ended first)."""
    if halfway is None:
        return process.communicate()[0], None
    try:
        return process.communicate(timeout=after_s)[0], None
    except subprocess.TimeoutExpired:
        readings = halfway()
        return process.communicate()[0], readings


def parse(output: str, cpu_percent: dict[str, float | None]) -> Run:
    line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary (is {LUA_SCRIPT.name} intact?):\n{output}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    duration_s = data["duration_us"] / 1e6
    latency = {key: round(value / 1000, 2) for key, value in data["latency_us"].items()}
    return Run(
        requests_per_s=round(data["requests"] / duration_s, 1),
        requests=data["requests"],
        duration_s=round(duration_s, 2),
        errors=data["errors"],
        latency_ms=latency,
        cpu_percent=cpu_percent,
    )
