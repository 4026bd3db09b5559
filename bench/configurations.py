"""What the benchmark measures: every server configuration, one row of the results each."""

from __future__ import annotations

import os

from products_db.config import DEFAULT_POOL_SIZE

from .plan import Configuration

CORES = os.cpu_count() or 1
POOL = DEFAULT_POOL_SIZE  # connections per process of an async app, unless a row says otherwise
# Flask's threaded worker gets as many threads as an async process has pool
# connections, so both may have the same number of queries in flight per process.
GTHREAD_THREADS = POOL
# The async apps and their registry commands for one process per core.
ASYNC_SERVERS = {"aiohttp": "aiohttp-gunicorn", "starlette": "starlette", "django": "django-asgi"}
# Requests one process may have in flight in the sweep: 10 is the default pool
# (the per-core rows at 20 ms), 50 and 100 are added here.
SWEEP_IN_FLIGHT = (50, 100)
SWEEP_LATENCY_MS = 20
SWEEP_APPS = ("aiohttp", "starlette", "django", "flask gthread")  # as the sweep's table and chart name them
BOOK = " (book's command)"  # in the label of a row that runs the book's command line


def configurations(cores: int = CORES) -> dict[str, Configuration]:
    """Every row of the results, in their order, by key."""
    rows = [*book_commands(), *per_core(cores), *scale_out(cores), *sweep(cores), *ceilings(cores)]
    return {c.key: c for c in rows}


def book_commands() -> list[Configuration]:
    """This repository's code under the book's commands: the registry's documented lines, nothing appended."""
    return [
        flask(8, book=True),
        async_app("aiohttp", 1, server="aiohttp", book=True, bound=f"1 process x pool {POOL}; one core"),
        async_app("starlette", 8, server="starlette", book=True),
    ]


def per_core(cores: int) -> list[Configuration]:
    """The fair comparison: one process per core for every framework."""
    workers = f"--workers {cores}"
    return [
        flask(cores, extra_args=workers),
        flask(cores, threads=GTHREAD_THREADS, key=sweep_key("flask gthread", cores, GTHREAD_THREADS)),
        *(async_app(app, cores, extra_args=workers) for app in ASYNC_SERVERS),
        # Stock Django's row above, and beside it the same project with three tweaks (asgi_tuned.py).
        async_app(
            "django",
            cores,
            key=f"django-tuned-{cores}",
            label=f"django tuned x{cores}",
            server="django-asgi-tuned",
            extra_args=workers,
        ),
    ]


def scale_out(cores: int) -> list[Configuration]:
    """The book's suggestion (aiohttp processes behind nginx) and the cluster of hosts, all through nginx."""
    nginx = [
        async_app(
            "aiohttp",
            n,
            key=f"aiohttp-nginx-{n}",
            label=f"aiohttp x{n} behind nginx",
            server="aiohttp-nginx",
            extra_args=f"--processes {n}",
            bound=f"{n} processes x pool {POOL}, nginx in front",
            only_latencies_ms=(0, 20) if n == cores else (0,),
        )
        for n in sorted({cores, 8})
    ]
    cluster = [
        async_app(
            "aiohttp",
            hosts,
            key=f"cluster-{hosts}",
            label=f"cluster of {hosts} host{'s' if hosts > 1 else ''}",
            server="cluster",
            extra_args=f"--hosts {hosts}",
            bound=f"{hosts} hosts x aiohttp pool {POOL}, nginx in front",
            only_latencies_ms=(0,),
        )
        for hosts in (1, 2, 4)
    ]
    return nginx + cluster


def sweep(cores: int) -> list[Configuration]:
    """At +20 ms, more requests in flight per process: a bigger pool for the async apps, more threads for Flask."""
    rows = []
    for n in SWEEP_IN_FLIGHT:
        at_20_ms = (SWEEP_LATENCY_MS,)
        rows.append(flask(cores, threads=n, key=sweep_key("flask gthread", cores, n), only_latencies_ms=at_20_ms))
        rows += [
            async_app(
                app,
                cores,
                key=sweep_key(app, cores, n),
                label=f"{app} x{cores}, pool {n}",
                extra_args=f"--workers {cores}",
                pool=n,
                only_latencies_ms=at_20_ms,
            )
            for app in ASYNC_SERVERS
        ]
    return rows


def sweep_key(app: str, cores: int, in_flight: int) -> str:
    """The key of the row of one of SWEEP_APPS with `in_flight` requests per process (the default: a per-core row)."""
    if app == "flask gthread":
        return f"flask-gthread-{cores}" + (f"x{in_flight}" if in_flight != GTHREAD_THREADS else "")
    return f"{app}-{cores}" + (f"-pool{in_flight}" if in_flight != POOL else "")


def ceilings(cores: int) -> list[Configuration]:
    """What no app can beat: the bare HTTP apps (no database) and the /brands query without HTTP."""
    http = [
        Configuration(
            key=f"{app}-{cores}",
            label=f"raw {app.removeprefix('raw-').upper()} x{cores}",
            app=app,
            kind="http ceiling",
            processes=cores,
            server=app,
            extra_args=f"--workers {cores}",
            bound="no database: HTTP only",
        )
        for app in ("raw-wsgi", "raw-asgi")
    ]
    # pool=POOL: the same pools as the async apps per core, minus HTTP: the fair ceiling for them.
    return [*http, db_ceiling(1), db_ceiling(cores), db_ceiling(cores, pool=POOL)]


def flask(workers: int, *, threads: int = 0, key: str = "", extra_args: str = "", **fields) -> Configuration:
    """gunicorn's sync workers, one request each; with threads, its threaded worker and a pool as large."""
    if threads:
        extra_args = f"--workers {workers} --worker-class gthread --threads {threads}"
    book = fields.get("book", False)
    return Configuration(
        key=key or f"flask-{workers}",
        label=f"flask gthread x{workers}x{threads}" if threads else f"flask x{workers}" + (BOOK if book else ""),
        app="flask",
        kind="sync",
        processes=workers,
        server="flask",
        extra_args=extra_args,
        env={"DB_POOL_SIZE": str(threads)} if threads else {},
        in_flight_per_process=threads or 1,
        bound=f"{workers} workers x {threads} threads" if threads else f"{workers} sync workers, one request each",
        **fields,
    )


def async_app(
    app: str,
    processes: int,
    *,
    key: str = "",
    label: str = "",
    server: str = "",
    book: bool = False,
    pool: int = POOL,
    bound: str = "",
    **fields,
) -> Configuration:
    """An async app, each process with a pool; key, label, server and bound follow the app and its processes."""
    # Django's SECRET_KEY comes with its registry command (devenv.commands.DJANGO_DEMO_ENV).
    env = {"DB_POOL_SIZE": str(pool)} if pool != POOL else {}
    return Configuration(
        key=key or f"{app}-{processes}",
        label=label or f"{app} x{processes}" + (BOOK if book else ""),
        app=app,
        kind="async",
        processes=processes,
        server=server or ASYNC_SERVERS[app],
        env=env,
        book=book,
        in_flight_per_process=pool,
        bound=bound or f"{processes} processes x pool {pool}",
        **fields,
    )


def db_ceiling(processes: int, *, pool: int = 0) -> Configuration:
    """The /brands query through asyncpg, no HTTP: a connection per client, or pools as large as the apps'."""
    return Configuration(
        key=f"db-{processes}" + (f"-pool{pool}" if pool else ""),
        label=f"db ceiling x{processes}" + (f", pool {pool}" if pool else ""),
        app="db",
        kind="db ceiling",
        processes=processes,
        in_flight_per_process=pool or None,
        bound="asyncpg, no HTTP, " + (f"{processes} processes x pool {pool}" if pool else "one connection per client"),
        ceiling_pool=pool,
    )
