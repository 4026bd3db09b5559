"""Two readings of the results: each app against the machine's limit, and the concurrency sweep at +20 ms."""

from __future__ import annotations

from pathlib import Path

from .matrix import SWEEP_IN_FLIGHT, SWEEP_LATENCY_MS

# The apps of the sweep: the row key of in-flight 10 (the per-core rows), and the
# prefix of the sweep's own keys for larger pools or thread counts.
SWEEP_APPS = {
    "aiohttp": ("aiohttp-{cores}", "aiohttp-{cores}-pool{n}"),
    "starlette": ("starlette-{cores}", "starlette-{cores}-pool{n}"),
    "django": ("django-{cores}", "django-{cores}-pool{n}"),
    "flask gthread": ("flask-gthread-{cores}", "flask-gthread-{cores}x{n}"),
}


def _ok_cell(cells: list[dict], key: str, latency_ms: int) -> dict | None:
    for cell in cells:
        ok = cell["status"] == "ok" and cell["endpoint"] in ("/brands", "/")
        if ok and cell["configuration"] == key and cell["latency_ms"] == latency_ms:
            return cell
    return None


def _rate(cell: dict) -> float:
    return cell["summary"]["requests_per_s"]["median"]


def share_of_limit(results: dict) -> list[dict]:
    """Each app at 0 ms as a fraction of 1 / (1/db + 1/http): its query and its HTTP costs added on the same cores.

    db is the best database ceiling of the run (the apps' query through asyncpg, no
    HTTP); http is the bare app of the same interface (ASGI for the async servers,
    aiohttp included; WSGI for Flask), no database. What an app loses beyond that
    is its framework's own work.
    """
    cells = [c for c in results["cells"] if c["status"] == "ok" and c["latency_ms"] == 0]
    brands = [c for c in cells if c["endpoint"] == "/brands"]
    db = max((c for c in brands if c["kind"] == "db ceiling"), key=_rate, default=None)
    http = {c["app"]: c for c in cells if c["kind"] == "http ceiling"}
    rows = []
    for app in sorted((c for c in brands if c["kind"] in ("sync", "async")), key=_rate, reverse=True):
        bare = http.get("raw-wsgi" if app["kind"] == "sync" else "raw-asgi")
        if db is None or bare is None:
            continue
        limit = 1 / (1 / _rate(db) + 1 / _rate(bare))
        rows.append(
            {
                "server": app["label"],
                "requests_per_s": _rate(app),
                "db_ceiling": db["label"],
                "db_ceiling_requests_per_s": _rate(db),
                "http_ceiling": bare["label"],
                "http_ceiling_requests_per_s": _rate(bare),
                "limit_requests_per_s": round(limit, 1),
                "share": round(_rate(app) / limit, 3),
            }
        )
    return rows


def sweep(results: dict) -> list[dict]:
    """req/s, server memory and server CPU per request for each app and requests in flight per process."""
    cells = results["cells"]
    cores = results["meta"]["machine"]["cores"]
    rows = []
    for app, (base, pattern) in SWEEP_APPS.items():
        for n in (10, *SWEEP_IN_FLIGHT):
            key = (base if n == 10 else pattern).format(cores=cores, n=n)
            cell = _ok_cell(cells, key, SWEEP_LATENCY_MS)
            if cell is None:
                continue
            s = cell["summary"]
            rows.append(
                {
                    "app": app,
                    "in_flight_per_process": n,
                    "label": cell["label"],
                    "requests_per_s": _rate(cell),
                    "socket_errors": s["socket_errors"],
                    "server_rss_mib": s.get("server_rss_mib_median"),
                    "server_cpu_us_per_request": s.get("server_cpu_us_per_request_median"),
                    "latency_bound_requests_per_s": cell["latency_bound_requests_per_s"],
                }
            )
    return rows


def markdown(results: dict) -> list[str]:
    lines: list[str] = []
    limit = share_of_limit(results)
    if limit:
        first = limit[0]
        lines += [
            "",
            "## Against the machine's limit at 0 ms",
            "",
            f"Limit = 1 / (1/db + 1/http): the best database ceiling ({first['db_ceiling']}) and the bare app of "
            "the same interface (raw ASGI for the async servers, raw WSGI for Flask), their costs added on the "
            "same cores.",
            "",
            "| Server | req/s | HTTP ceiling | Limit | Share |",
            "|---|---:|---|---:|---:|",
        ]
        for r in limit:
            lines.append(
                f"| {r['server']} | {r['requests_per_s']:,.0f} | {r['http_ceiling']} | "
                f"{r['limit_requests_per_s']:,.0f} | {r['share']:.0%} |"
            )
    rows = sweep(results)
    if rows:
        lines += [
            "",
            f"## Concurrency sweep at +{SWEEP_LATENCY_MS} ms",
            "",
            "Requests one process may have in flight: the pool for the async apps, the threads for Flask's "
            "threaded worker (with a pool as large). Memory: resident, every server process; CPU: server "
            "processes only, per answered request.",
            "",
            "| App | In flight per process | req/s | Bound (in flight ÷ latency) | Server memory MiB | "
            "Server CPU µs per request |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            errors = f" ⚠ {r['socket_errors']:,} socket err" if r["socket_errors"] else ""
            memory = "-" if r["server_rss_mib"] is None else f"{r['server_rss_mib']:,.0f}"
            cpu = "-" if r["server_cpu_us_per_request"] is None else f"{r['server_cpu_us_per_request']:,.0f}"
            bound = r["latency_bound_requests_per_s"]
            lines.append(
                f"| {r['app']} | {r['in_flight_per_process']} | {r['requests_per_s']:,.0f}{errors} | "
                f"{'-' if bound is None else f'{bound:,}'} | {memory} | {cpu} |"
            )
    return lines


def sweep_chart(results: dict, path: Path) -> bool:
    """req/s and memory against requests in flight per process, one line per app; False if nothing to draw."""
    rows = sweep(results)
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rate_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = dict(zip(SWEEP_APPS, ("o", "s", "^", "D"), strict=True))
    for app in SWEEP_APPS:
        mine = [r for r in rows if r["app"] == app]
        if not mine:
            continue
        x = [r["in_flight_per_process"] for r in mine]
        rate_axis.plot(x, [r["requests_per_s"] for r in mine], marker=markers[app], label=app)
        memory = [(r["in_flight_per_process"], r["server_rss_mib"]) for r in mine if r["server_rss_mib"]]
        if memory:
            memory_axis.plot(*zip(*memory, strict=True), marker=markers[app], label=app)
    for axis, title in ((rate_axis, "requests per second"), (memory_axis, "server memory, MiB (all processes)")):
        axis.set_xlabel("requests in flight per process (pool or threads)")
        axis.set_title(title)
        axis.set_xticks([10, *SWEEP_IN_FLIGHT])
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"GET /brands at +{SWEEP_LATENCY_MS} ms of database latency, 2 processes each")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
