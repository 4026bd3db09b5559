"""Running wrk once and reading its figures, with the CPU time the server and Postgres spent meanwhile."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

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


# --- CPU accounting ---------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time of live processes and of the children they have reaped, read from /proc (Linux only).

    Counting reaped children keeps processes that end during the interval: a
    Postgres backend whose client disconnected, a worker that was replaced. Their
    time moves into their parent's account, which is in the group too.
    """
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # Fields after the ")" that closes the command name: state is [0],
                # utime [11], stime [12], cutime [13], cstime [14], in clock ticks.
                fields = stat.read().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass  # exited and not yet reaped: its time is lost, which only undercounts
    return total / CLOCK_TICKS


def process_group(pgid: int) -> Callable[[], list[int]]:
    """The server: its master and every worker share the group run() gave it."""

    def members() -> list[int]:
        found = []
        for pid in psutil.pids():
            try:
                if os.getpgid(pid) == pgid:
                    found.append(pid)
            except OSError:
                pass
        return found

    return members


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes, summed, in MiB."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return round(total / 2**20, 1)


def postgres_on_port(port: int) -> Callable[[], list[int]]:
    """Our Postgres: the postmaster started with `-p PORT` and its backends (not anyone else's)."""

    def members() -> list[int]:
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.info["name"] == "postgres" and "-p" in cmdline:
                if cmdline[cmdline.index("-p") + 1 : cmdline.index("-p") + 2] == [str(port)]:
                    # A backend can exit while we list them (Django connects per
                    # request): list again rather than lose the postmaster's account.
                    for _ in range(5):
                        try:
                            return [process.pid, *(child.pid for child in process.children(recursive=True))]
                        except psutil.NoSuchProcess:
                            continue
                    return [process.pid]
        return []

    return members


class CpuMeter:
    """CPU time of groups of processes over an interval, as percent of one core (200 = two cores busy).

    Linux samples CPU time at the timer tick, so a figure for processes that work
    in short bursts is approximate; the machine-wide figure says whether anything
    else was busy.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]):
        self.groups = groups
        self.start: dict[str, tuple[list[int], float]] = {}
        self.started_at = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> CpuMeter:
        for name, members in self.groups.items():
            pids = members()
            self.start[name] = (pids, _cpu_seconds(pids))
        self.machine_before = _machine_busy_seconds()
        self.started_at = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.monotonic() - self.started_at
        self.machine_after = _machine_busy_seconds()

    def percent(self) -> dict[str, float | None]:
        result: dict[str, float | None] = {}
        for name, members in self.groups.items():
            before_pids, before = self.start[name]
            if not before_pids:
                result[name] = None  # not found (not Linux, or a database elsewhere)
                continue
            # Processes that appeared meanwhile (new backends, respawned workers)
            # count from zero, which is right: all their time fell in the interval.
            after = _cpu_seconds(members())
            # Below zero means a process with CPU time vanished unaccounted: no figure.
            result[name] = round(100 * (after - before) / self.elapsed, 1) if after >= before else None
        # Every process on the machine, ours or not: the check that nothing else was busy.
        result["machine"] = round(100 * (self.machine_after - self.machine_before) / self.elapsed, 1)
        return result


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return (
        sum(times)
        - times.idle
        - getattr(times, "iowait", 0.0)
        - getattr(times, "guest", 0.0)
        - getattr(times, "guest_nice", 0.0)
    )


def connections_per_worker(pgid: int, port: int) -> Callable[[], list[int]]:
    """How wrk's connections are spread over the server's processes (the accepting ones)."""

    def count() -> list[int]:
        pids = process_group(pgid)()
        # A master (gunicorn's arbiter, uvicorn's supervisor) only listens; a
        # single-process server is its own leader and does accept.
        workers = [pid for pid in pids if pid != pgid] or pids
        counts = []
        for pid in workers:
            try:
                sockets = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            counts.append(
                sum(1 for s in sockets if s.status == psutil.CONN_ESTABLISHED and s.laddr and s.laddr.port == port)
            )
        return sorted(counts, reverse=True)

    return count


# --- wrk --------------------------------------------------------------------


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
    midway: Callable[[], list[int]] | None = None,
    server: Callable[[], list[int]] | None = None,
) -> tuple[Run, str]:
    """Run wrk once; returns the parsed figures and wrk's own text report.

    midway, if given, is called halfway through the run (connections_per_worker),
    and so is the memory reading of the server's processes, if given.
    """
    argv = wrk_argv(url, connections=connections, threads=threads, duration_s=duration_s, timeout_s=timeout_s)
    env = dict(os.environ)
    if max_product_id:
        env["BENCH_MAX_PRODUCT_ID"] = str(max_product_id)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with CpuMeter(cpu_groups or {}) as meter:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        spread = memory = None
        if midway is not None or server is not None:
            try:
                output, _ = process.communicate(timeout=duration_s / 2)
            except subprocess.TimeoutExpired:
                spread = midway() if midway is not None else None
                memory = rss_mib(server()) if server is not None else None
                output, _ = process.communicate()
        else:
            output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}: {output.strip()}")
    # wrk is the only child reaped during the run, so the children's clock is its CPU.
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_seconds = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    cpu = {**meter.percent(), "wrk": round(100 * wrk_seconds / meter.elapsed, 1)}
    run = parse(output, cpu)
    run.connections_per_worker = spread
    run.server_rss_mib = memory
    return run, output


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
