"""The database ceiling: the /brands query straight through asyncpg pools, no HTTP, as fast as it goes.

No web app can serve /brands faster than its database and driver can answer the
query, so this is the line every app is measured against. It runs the apps' query
(products_db/queries.py) from as many clients as wrk keeps connections
open, from one process or from one process per core. By default each client has
a connection of its own; with --pool-size the clients of a process share a pool
as large as an app's, handing connections back as the apps' pools do.

Run it on its own: python -m bench.ceiling URL --concurrency 200 --processes 2 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time

import asyncpg
import uvloop

from products_db.pool import keep_session
from products_db.queries import SELECT_BRANDS_JSON  # what every app runs for GET /brands

# Time allowed for every process to open its connections before the clock starts,
# so all of them measure the same interval.
SETUP_S = 2.5


async def _hammer(
    url: str, concurrency: int, pool_size: int, start_at: float, duration_s: float
) -> tuple[int, list[float]]:
    size = min(pool_size, concurrency) if pool_size else concurrency
    async with asyncpg.create_pool(url, min_size=size, max_size=size, reset=keep_session) as pool:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end_at = start_at + duration_s
        latencies: list[float] = []

        async def one_client() -> None:
            # A client like a wrk connection: the next query as soon as the last answers.
            while True:
                began = time.time()
                if began >= end_at:
                    return
                await pool.fetchval(SELECT_BRANDS_JSON)
                finished = time.time()
                if finished <= end_at:
                    latencies.append(finished - began)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return len(latencies), latencies


def _process(args: tuple[str, int, int, float, float]) -> tuple[int, list[float]]:
    # uvloop, as every async app here runs on: the ceiling must not lose by its event loop.
    return uvloop.run(_hammer(*args))


def measure(
    url: str,
    *,
    concurrency: int,
    processes: int,
    duration_s: float,
    pool_size: int = 0,
    start_at: float | None = None,
) -> dict:
    """Queries per second from `concurrency` clients split over `processes`, each process with one pool.

    pool_size 0: a connection per client, nothing waits for the pool. Otherwise
    the clients of a process share pool_size connections, as an app's handlers do.
    """
    share = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    start_at = start_at or time.time() + SETUP_S
    jobs = [(url, n, pool_size, start_at, duration_s) for n in share if n > 0]
    if len(jobs) == 1:
        results = [_process(jobs[0])]
    else:
        # spawn, not fork: a fresh interpreter per process, like a server's workers.
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            results = pool.map(_process, jobs)
    count = sum(n for n, _ in results)
    latencies = sorted(value for _, values in results for value in values)
    return {
        "requests_per_s": round(count / duration_s, 1),
        "requests": count,
        "duration_s": duration_s,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        "latency_ms": _latency_ms(latencies),
    }


def _latency_ms(latencies: list[float]) -> dict[str, float]:
    """Mean, max and percentiles in ms of sorted latencies in seconds, as wrk reports them."""
    if not latencies:
        return dict.fromkeys(("mean", "max", "p50", "p90", "p99"), 0.0)

    def percentile(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2)

    return {
        "mean": round(1000 * sum(latencies) / len(latencies), 2),
        "max": round(1000 * latencies[-1], 2),
        **{f"p{p}": percentile(p) for p in (50, 90, 99)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--pool-size", type=int, default=0, help="connections per process (0: one per client)")
    parser.add_argument("--start-at", type=float, help="wall-clock time (time.time()) to start measuring at")
    args = parser.parse_args(argv)
    result = measure(
        args.url,
        concurrency=args.concurrency,
        processes=args.processes,
        duration_s=args.duration,
        pool_size=args.pool_size,
        start_at=args.start_at,
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
