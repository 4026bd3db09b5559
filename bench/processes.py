"""The processes under test: their CPU time, memory and connections, read from /proc and psutil."""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import NoReturn

import psutil

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


def group_pids(pgid: int) -> list[int]:
    """A server's processes: its master and every worker share the process group servers.run() gave it."""
    found = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid:
                found.append(pid)
        except OSError:
            pass  # exited meanwhile
    return found


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
        postmaster = next((p for p in psutil.process_iter(["name", "cmdline"]) if _is_postmaster(p, port)), None)
        return [] if postmaster is None else _with_children(postmaster)

    return members


def _is_postmaster(process: psutil.Process, port: int) -> bool:
    cmdline = process.info["cmdline"] or []
    if process.info["name"] != "postgres" or "-p" not in cmdline:
        return False
    return cmdline[cmdline.index("-p") + 1 :][:1] == [str(port)]


def _with_children(process: psutil.Process) -> list[int]:
    # A backend can exit while we list them (Django connects per request):
    # list again rather than lose the postmaster's account.
    for _ in range(5):
        try:
            return [process.pid, *(child.pid for child in process.children(recursive=True))]
        except psutil.NoSuchProcess:
            continue
    return [process.pid]


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


def connections_per_worker(pgid: int, port: int) -> list[int]:
    """How wrk's connections are spread over the server's processes (the accepting ones), most first."""
    pids = group_pids(pgid)
    # A master (gunicorn's arbiter, uvicorn's supervisor) only listens; a
    # single-process server is its own leader and does accept.
    workers = [pid for pid in pids if pid != pgid] or pids
    return sorted((n for pid in workers if (n := _established(pid, port)) is not None), reverse=True)


def _established(pid: int, port: int) -> int | None:
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return None  # exited meanwhile
    return sum(1 for s in sockets if s.status == psutil.CONN_ESTABLISHED and s.laddr and s.laddr.port == port)


def raise_file_limit(sockets: int) -> None:
    """A socket is an open file: raise this process's soft limit to hold `sockets` of them, plus a margin for the
    interpreter's own. A server started from here inherits it (1,000 clients pass the common default of 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + 200
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            sys.exit(f"error: {sockets} sockets need {wanted} open files, the hard limit is {hard} (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_main(main: Callable[[], int]) -> NoReturn:
    """A bench command's `__main__`: run main and exit with its code, ending on SIGTERM (a `kill`, a CI job's time
    limit) as on Ctrl-C: by an exception, so every `with` block that started a server, a database or a load
    generator stops it. Python's default for SIGTERM is to die at once, and the servers, in process groups of
    their own, would keep running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
