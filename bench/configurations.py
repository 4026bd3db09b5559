"""What the benchmark measures: every server configuration, one row of the results each."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from products_db.config import DEFAULT_POOL_SIZE
from products_db.embedded import REPO_ROOT

CORES = os.cpu_count() or 1

# Flask's threaded worker gets as many threads as an async process has pool
# connections, so both may have the same number of queries in flight per process.
GTHREAD_THREADS = DEFAULT_POOL_SIZE

# Django refuses to start without one; this one only ever signs nothing on loopback.
BENCH_SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop"


def _exists(relative: str) -> Callable[[], bool]:
    return lambda: (REPO_ROOT / relative).exists()


def _mentions(relative: str, text: str) -> Callable[[], bool]:
    def check() -> bool:
        path = REPO_ROOT / relative
        return path.exists() and text in path.read_text(errors="replace")

    return check


# How to tell whether an app's package has been written yet (other issues build them).
PRESENT: dict[str, Callable[[], bool]] = {
    "aiohttp": _exists("aiohttp_api/routes.py"),
    "flask": _exists("flask_api/app.py"),
    "starlette": _mentions("starlette_app/routes.py", "/brands"),
    "django": _mentions("django_async_views/async_api/urls.py", "brands"),
    "raw-wsgi": _exists("asgi_raw/wsgi_app.py"),
    "raw-asgi": _exists("asgi_raw/asgi_app.py"),
    "db": lambda: True,
}


@dataclass(frozen=True)
class Configuration:
    """One way to serve the API: a registry command, the arguments appended to it, and what bounds it."""

    key: str
    label: str
    app: str  # key of PRESENT
    kind: str  # "sync", "async", "http ceiling", "db ceiling"
    processes: int
    server: str | None = None  # name in products_db.servers.COMMANDS; None for the database ceiling
    extra_args: str = ""
    env: dict[str, str] = field(default_factory=dict)
    book: bool = False
    # Requests one process can have waiting on the database at once: a sync
    # worker 1, a threaded worker its threads, an async app its pool.
    in_flight_per_process: int | None = None
    bound: str = ""  # what limits concurrency, in words
    ceiling_pool: int = 0  # database ceiling only: connections per process (0: one per client)
    only_latencies_ms: tuple[int, ...] | None = None  # measured at these latencies only (None: every one)
    sweep: bool = False  # part of the concurrency sweep (bench/report.py gives it a table of its own)

    @property
    def uses_database(self) -> bool:
        return self.app not in ("raw-wsgi", "raw-asgi")

    @property
    def pool_size(self) -> int | None:
        if self.app == "db":
            return self.ceiling_pool or None
        if self.app in ("raw-wsgi", "raw-asgi"):
            return None
        return int(self.env.get("DB_POOL_SIZE", DEFAULT_POOL_SIZE))

    @property
    def in_flight(self) -> int | None:
        if self.in_flight_per_process is None:
            return None
        return self.processes * self.in_flight_per_process

    def present(self) -> bool:
        return PRESENT[self.app]()


def configurations(cores: int = CORES) -> dict[str, Configuration]:
    pool = DEFAULT_POOL_SIZE
    per_core = [
        Configuration(
            f"flask-{cores}",
            f"flask x{cores}",
            "flask",
            "sync",
            cores,
            "flask",
            f"--workers {cores}",
            in_flight_per_process=1,
            bound=f"{cores} sync workers, one request each",
        ),
        Configuration(
            f"flask-gthread-{cores}",
            f"flask gthread x{cores}x{GTHREAD_THREADS}",
            "flask",
            "sync",
            cores,
            "flask",
            f"--workers {cores} --worker-class gthread --threads {GTHREAD_THREADS}",
            env={"DB_POOL_SIZE": str(GTHREAD_THREADS)},
            in_flight_per_process=GTHREAD_THREADS,
            bound=f"{cores} workers x {GTHREAD_THREADS} threads",
        ),
        Configuration(
            f"aiohttp-{cores}",
            f"aiohttp x{cores}",
            "aiohttp",
            "async",
            cores,
            "aiohttp-gunicorn",
            f"--workers {cores}",
            in_flight_per_process=pool,
            bound=f"{cores} processes x pool {pool}",
        ),
        Configuration(
            f"starlette-{cores}",
            f"starlette x{cores}",
            "starlette",
            "async",
            cores,
            "starlette",
            f"--workers {cores}",
            in_flight_per_process=pool,
            bound=f"{cores} processes x pool {pool}",
        ),
        Configuration(
            f"django-{cores}",
            f"django x{cores}",
            "django",
            "async",
            cores,
            "django-asgi",
            f"--workers {cores}",
            env={"SECRET_KEY": BENCH_SECRET_KEY},
            # Django's own pool (psycopg 3), and as many request threads as connections.
            in_flight_per_process=pool,
            bound=f"{cores} processes x pool {pool}",
        ),
    ]
    book = [
        Configuration(
            "flask-8",
            "flask x8 (book's command)",
            "flask",
            "sync",
            8,
            "flask",
            book=True,
            in_flight_per_process=1,
            bound="8 sync workers, one request each",
        ),
        Configuration(
            "aiohttp-1",
            "aiohttp x1 (book's command)",
            "aiohttp",
            "async",
            1,
            "aiohttp",
            book=True,
            in_flight_per_process=pool,
            bound=f"1 process x pool {pool}; one core",
        ),
        Configuration(
            "starlette-8",
            "starlette x8 (book's command)",
            "starlette",
            "async",
            8,
            "starlette",
            book=True,
            in_flight_per_process=pool,
            bound=f"8 processes x pool {pool}",
        ),
    ]
    ceilings = [
        Configuration(
            f"raw-wsgi-{cores}",
            f"raw WSGI x{cores}",
            "raw-wsgi",
            "http ceiling",
            cores,
            "raw-wsgi",
            f"--workers {cores}",
            bound="no database: HTTP only",
        ),
        Configuration(
            f"raw-asgi-{cores}",
            f"raw ASGI x{cores}",
            "raw-asgi",
            "http ceiling",
            cores,
            "raw-asgi",
            f"--workers {cores}",
            bound="no database: HTTP only",
        ),
        Configuration(
            "db-1",
            "db ceiling x1",
            "db",
            "db ceiling",
            1,
            bound="asyncpg, no HTTP, one connection per client",
        ),
        Configuration(
            f"db-{cores}",
            f"db ceiling x{cores}",
            "db",
            "db ceiling",
            cores,
            bound="asyncpg, no HTTP, one connection per client",
        ),
        # The same pools as the async apps per core, minus HTTP: the fair ceiling for them.
        Configuration(
            f"db-{cores}-pool{pool}",
            f"db ceiling x{cores}, pool {pool}",
            "db",
            "db ceiling",
            cores,
            in_flight_per_process=pool,
            bound=f"asyncpg, no HTTP, {cores} processes x pool {pool}",
            ceiling_pool=pool,
        ),
    ]
    return {c.key: c for c in [*book, *per_core, *scale_out(cores), *sweep(cores), *ceilings]}


def scale_out(cores: int) -> list[Configuration]:
    """The book's suggestion (aiohttp processes behind nginx) and the cluster of hosts, all through nginx."""
    pool = DEFAULT_POOL_SIZE
    rows = [
        Configuration(
            f"aiohttp-nginx-{n}",
            f"aiohttp x{n} behind nginx",
            "aiohttp",
            "async",
            n,
            "aiohttp-nginx",
            f"--processes {n}",
            in_flight_per_process=pool,
            bound=f"{n} processes x pool {pool}, nginx in front",
            only_latencies_ms=(0, 20) if n == cores else (0,),
        )
        for n in sorted({cores, 8})
    ]
    rows += [
        Configuration(
            f"cluster-{hosts}",
            f"cluster of {hosts} host{'s' if hosts > 1 else ''}",
            "aiohttp",
            "async",
            hosts,
            "cluster",
            f"--hosts {hosts}",
            in_flight_per_process=pool,
            bound=f"{hosts} hosts x aiohttp pool {pool}, nginx in front",
            only_latencies_ms=(0,),
        )
        for hosts in (1, 2, 4)
    ]
    return rows


# Requests one process may have in flight in the sweep: 10 is the default pool
# (the per-core rows at 20 ms), 50 and 100 are added here.
SWEEP_IN_FLIGHT = (50, 100)
SWEEP_LATENCY_MS = 20
SWEEP_SERVERS = (("aiohttp", "aiohttp-gunicorn"), ("starlette", "starlette"), ("django", "django-asgi"))


def sweep(cores: int) -> list[Configuration]:
    """At +20 ms, more requests in flight per process: a bigger pool for the async apps, more threads for Flask."""
    rows = []
    for n in SWEEP_IN_FLIGHT:
        pool_env = {"DB_POOL_SIZE": str(n)}
        common = {"in_flight_per_process": n, "only_latencies_ms": (SWEEP_LATENCY_MS,), "sweep": True}
        rows += [
            Configuration(
                f"flask-gthread-{cores}x{n}",
                f"flask gthread x{cores}x{n}",
                "flask",
                "sync",
                cores,
                "flask",
                f"--workers {cores} --worker-class gthread --threads {n}",
                env=pool_env,
                bound=f"{cores} workers x {n} threads",
                **common,
            ),
            *(
                Configuration(
                    f"{app}-{cores}-pool{n}",
                    f"{app} x{cores}, pool {n}",
                    app,
                    "async",
                    cores,
                    server,
                    f"--workers {cores}",
                    env={**pool_env, **({"SECRET_KEY": BENCH_SECRET_KEY} if app == "django" else {})},
                    bound=f"{cores} processes x pool {n}",
                    **common,
                )
                for app, server in (
                    ("aiohttp", "aiohttp-gunicorn"),
                    ("starlette", "starlette"),
                    ("django", "django-asgi"),
                )
            ),
        ]
    return rows
