"""Held connections, the C10K lesson: each REST server holds N idle connections while a new client asks for /brands.

    python -m bench.held [--configs K1,K2] [--held 100,1000,10000] [--states keep-alive,silent] [--requests 300]
                         [--timeout 2] [--out DIR]

For each server (its documented command, one process per core, as `make bench` runs it), state and N:
a fresh start, a baseline of its memory and open sockets, then a holder process (bench/held_holder.py)
opens N connections that each ask `GET /brands` once and then stay idle, as a browser's connection
between two requests (or, --state silent, never send a byte, as clients that have not spoken yet). While
they are held, this process asks for `GET /brands` on new connections, a few at a time, each with a
time limit, and counts what answered. A sync worker serves one connection at a time, so one idle
socket takes a whole worker: the new client waits behind the held ones. An event loop keeps a waiting
connection as a small object and serves the new one beside it; what that object costs is the server's
resident memory with N held minus without, per connection it held.

Writes held.json, held.md and held.png to bench/results/ (or --out). Uses DATABASE_URL if set, else a
throwaway embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import product
from pathlib import Path

from devenv import servers
from devenv.embedded import REPO_ROOT
from devenv.throwaway import seeded_database

from . import charts, metadata, tables
from .configurations import CORES, GTHREAD_THREADS, per_core, sweep_key
from .plan import Configuration
from .processes import group_pids, raise_file_limit, rss_mib, run_main

RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The REST servers, one process per core: the per-core rows of `make bench`.
ASYNC_CONFIGS = [f"aiohttp-{CORES}", f"starlette-{CORES}", f"django-{CORES}"]
DEFAULT_CONFIGS = [*ASYNC_CONFIGS, f"flask-{CORES}", sweep_key("flask gthread", CORES, GTHREAD_THREADS)]
REQUEST = b"GET /brands HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
WARM_UP_REQUESTS = 20
# Time for the server to settle after its warm-up, before its baseline is read.
SETTLE_S = 0.5
# At most this long after the holder has connected, for the server to accept what is in its queue.
SETTLE_HOLD_S = 5.0
# Below this many held connections, memory per connection is lost in the server's own drift.
MIN_FOR_MEMORY = 100
IDLE_CONNECTION = {
    "keep-alive": "one `GET /brands` on HTTP/1.1 keep-alive, answered, then idle (a connection between two requests)",
    "silent": "TCP connected, no byte sent (a client that has not spoken yet)",
}
PACKAGES = ("aiohttp", "Django", "Flask", "gunicorn", "starlette", "uvicorn", "uvicorn-worker", "uvloop")


@dataclass(frozen=True)
class Settings:
    held: list[int]
    states: list[str]  # of the held connections: keys of IDLE_CONNECTION
    requests: int  # fresh GETs per cell, at most
    concurrency: int  # of those, in flight at once
    timeout_s: float  # one GET: connect, request and answer
    get_phase_s: float  # all of them
    connect_timeout_s: float  # one held connection's handshake
    connect_phase_s: float  # all N of them


@dataclass
class Sample:
    """What the server's processes hold at one moment: open sockets and resident memory."""

    sockets: int  # a thread's selector or a log file is no connection
    rss_mib: float

    @classmethod
    def of(cls, pgid: int) -> Sample:
        pids = group_pids(pgid)
        return cls(sum(_sockets(pid) for pid in pids), rss_mib(pids))  # a worker that exited meanwhile counts 0


def _sockets(pid: int) -> int:
    """Open sockets of a process, read from /proc (Linux only)."""
    folder = f"/proc/{pid}/fd"
    count = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0  # exited meanwhile
    for name in names:
        try:
            count += os.readlink(f"{folder}/{name}").startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return count


class PeakSampler:
    """Samples the server every 0.2 s while the holder connects and until it settles, keeping the one with most sockets.

    A server that closes idle connections after a few seconds (gunicorn's keepalive is 2 s) holds
    its most while the holder is still connecting: the peak is what it did hold.
    """

    def __init__(self, pgid: int) -> None:
        self.pgid, self.peak, self.last = pgid, Sample(0, 0.0), Sample(0, 0.0)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.take()

    def take(self) -> None:
        self.last = sample = Sample.of(self.pgid)
        if sample.sockets >= self.peak.sockets:
            self.peak = sample

    def __enter__(self) -> PeakSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        # The holder is done connecting, the server may still be accepting: sample until it stops moving.
        before, deadline = -1, time.monotonic() + SETTLE_HOLD_S
        while time.monotonic() < deadline:
            self.take()
            if self.last.sockets == before:
                break
            before = self.last.sockets
            time.sleep(0.25)


async def one_get(port: int, timeout_s: float) -> tuple[float | None, str]:
    """A new connection, GET /brands, the whole answer: (ms, "ok") or (None, what went wrong)."""
    began = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(REQUEST)
                answer = await reader.read()  # Connection: close, so the answer ends with the connection
            finally:
                writer.close()
    except TimeoutError:
        return None, "timeout"
    except OSError:
        return None, "connection"
    if not answer.startswith(b"HTTP/1.1 200 ") or not answer.rstrip().endswith(b"]"):
        return None, "status"
    return (time.perf_counter() - began) * 1000, "ok"


async def fresh_gets(port: int, count: int, concurrency: int, timeout_s: float, phase_s: float) -> dict:
    """Up to `count` GETs, `concurrency` at a time, none started after phase_s: latencies and errors."""
    latencies: list[float] = []
    errors = {"timeout": 0, "connection": 0, "status": 0}
    sent = 0
    deadline = time.monotonic() + phase_s

    async def client() -> None:
        nonlocal sent
        while sent < count and time.monotonic() < deadline:
            sent += 1
            ms, outcome = await one_get(port, timeout_s)
            if ms is None:
                errors[outcome] += 1
            else:
                latencies.append(ms)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    latencies.sort()
    return {
        "sent": sent,
        "ok": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "errors": errors,
    }


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats drifting
    return round(ordered[int(rank) - 1], 2)


class Holder:
    """The holder program in its own process, spoken to over its standard streams."""

    def __init__(self, port: int, count: int, state: str, settings: Settings) -> None:
        argv = [sys.executable, "-m", "bench.held_holder", str(port), str(count), "--state", state]
        argv += ["--connect-timeout", str(settings.connect_timeout_s)]
        argv += ["--connect-phase", str(settings.connect_phase_s)]
        argv += ["--lifetime", str(settings.connect_phase_s + settings.get_phase_s + 120)]
        self.process = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reply_within = settings.connect_phase_s + 30

    def reply(self) -> dict:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.reply_within)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the holder did not answer within {self.reply_within:.0f} s")
        return json.loads(line)

    def ask(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        try:
            self.ask("close")
        except OSError:
            pass  # it has already exited
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(configuration: Configuration, count: int, state: str, database_url: str, settings: Settings) -> dict:
    """One server, freshly started, holding `count` idle connections while new clients ask for /brands."""
    assert configuration.server is not None  # a server's row
    command = servers.COMMANDS[configuration.server]
    load = os.getloadavg()[0]
    with servers.run(
        command,
        database_url=database_url,
        env=configuration.env,
        extra_args=configuration.extra_args,
        ready_timeout=120,
    ) as server:
        pgid = server.process.pid
        warm = asyncio.run(fresh_gets(server.port, WARM_UP_REQUESTS, settings.concurrency, 10.0, 30.0))
        if warm["ok"] != WARM_UP_REQUESTS:
            raise RuntimeError(f"{configuration.label}: the warm-up's GETs failed: {warm}")
        time.sleep(SETTLE_S)
        idle = Sample.of(pgid)
        holder = Holder(server.port, count, state, settings)
        try:
            with PeakSampler(pgid) as sampler:
                connected = holder.reply()
            s = settings
            gets = asyncio.run(fresh_gets(server.port, s.requests, s.concurrency, s.timeout_s, s.get_phase_s))
            holder.ask("count")
            still = holder.reply()
            end = Sample.of(pgid)
        finally:
            # Before the server stops: a sync worker waiting on a held socket would hold up its shutdown.
            holder.close()
    peak = sampler.peak
    accepted = max(0, peak.sockets - idle.sockets)
    return {
        "key": configuration.key,
        "label": configuration.label,
        "kind": configuration.kind,
        "command": " ".join([command.documented, configuration.extra_args]).strip(),
        "env": dict(configuration.env),
        "held": count,
        "load_1m_before": round(load, 2),
        "connected": connected["connected"],
        "connect_failed": connected["failed"],
        "connect_s": connected["connect_s"],
        "accepted_peak": accepted,
        "held_at_end": max(0, end.sockets - idle.sockets),
        "holder_open_at_end": still["open"],
        "closed_by_server": still["closed_by_server"],
        "holder_cpu_s": still["cpu_s"],
        "gets": gets,
        "rss_idle_mib": idle.rss_mib,
        "rss_held_mib": peak.rss_mib,
        "rss_end_mib": end.rss_mib,
        "kib_per_held": kib_per_connection(peak.rss_mib - idle.rss_mib, accepted),
    }


def kib_per_connection(grown_mib: float, connections: int) -> float | None:
    """Memory grown per held connection; none below MIN_FOR_MEMORY, where the server's own drift would dominate."""
    if connections < MIN_FOR_MEMORY:
        return None
    return round(grown_mib * 1024 / connections, 1)


def run(configurations: list[Configuration], settings: Settings, say: Callable[[str], None] = print) -> dict:
    """Every server at every N; a server that fails at one N is reported and the rest still run."""
    started, clock = datetime.now(UTC), time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows = []
    with seeded_database() as url:
        for configuration, state, count in product(configurations, settings.states, settings.held):
            say(f"{configuration.label}: holding {count:,} {state} ...")
            try:
                row = measure(configuration, count, state, url, settings)
            except Exception as error:  # one broken server must not sink the others
                row = {"key": configuration.key, "label": configuration.label, "held": count, "error": str(error)}
            say(f"  {summary(row)}")
            rows.append({**row, "state": state})
    installed = metadata.packages()
    versions = {name: installed.get(name, "") for name in PACKAGES}
    return {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "wall_s": round(time.monotonic() - clock, 1),
            "machine": metadata.machine(),
            "python": metadata.python(),
            "packages": versions,
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "settings": {**asdict(settings), "idle_connection": {s: IDLE_CONNECTION[s] for s in settings.states}},
            "command_line": [os.path.basename(sys.executable), "-m", "bench.held", *sys.argv[1:]],
        },
        "rows": rows,
    }


def summary(row: dict) -> str:
    if "error" in row:
        return f"failed: {row['error']}"
    gets = row["gets"]
    return (
        f"connected {row['connected']:,}, server held {row['accepted_peak']:,}; "
        f"GET ok {gets['ok']}/{gets['sent']}, p50 {gets['p50_ms']} ms, p99 {gets['p99_ms']} ms; "
        f"RSS {row['rss_idle_mib']} -> {row['rss_held_mib']} MiB"
    )


def write(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "held.json", out / "held.md", out / "held.png"]
    head = json.dumps(results["meta"], indent=1, ensure_ascii=False)
    rows = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in results["rows"])
    paths[0].write_text(f'{{\n "meta": {head},\n "rows": [\n{rows}\n ]\n}}\n')
    paths[1].write_text(tables.held_markdown(results))
    charts.held_chart(results, paths[2])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.held", description=__doc__.splitlines()[0])
    all_configs = {c.key: c for c in per_core(CORES)}
    parser.add_argument("--configs", type=lambda t: t.split(","), default=DEFAULT_CONFIGS, help=", ".join(all_configs))
    parser.add_argument("--held", type=lambda t: [int(n) for n in t.split(",")], default=[100, 1000, 10000])
    parser.add_argument(
        "--states", type=lambda t: t.split(","), default=list(IDLE_CONNECTION), help="keep-alive,silent"
    )
    parser.add_argument("--requests", type=int, default=300, help="fresh GETs per server and N, at most")
    parser.add_argument("--concurrency", type=int, default=4, help="fresh GETs in flight at once")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a fresh GET is an error")
    parser.add_argument("--get-phase", type=float, default=15.0, help="seconds of fresh GETs, at most")
    parser.add_argument("--connect-timeout", type=float, default=3.0, help="seconds for one held connection")
    parser.add_argument("--connect-phase", type=float, default=30.0, help="seconds to open all N, at most")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    unknown = [key for key in args.configs if key not in all_configs]
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)}; known: {', '.join(all_configs)}")
    if set(args.states) - set(IDLE_CONNECTION):
        parser.error(f"--states: {', '.join(IDLE_CONNECTION)}")
    if min(args.held) < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--held, --requests and --concurrency must be at least 1")
    settings = Settings(
        held=args.held,
        states=args.states,
        requests=args.requests,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        get_phase_s=args.get_phase,
        connect_timeout_s=args.connect_timeout,
        connect_phase_s=args.connect_phase,
    )
    raise_file_limit(max(args.held))
    results = run([all_configs[key] for key in args.configs], settings)
    paths = write(results, args.out)
    print(f"wrote {', '.join(str(p) for p in paths)} in {results['meta']['wall_s'] / 60:.1f} min")
    return 1 if any("error" in row for row in results["rows"]) else 0


if __name__ == "__main__":
    run_main(main)
