"""Readings of the results: each async server against Flask, each app against the machine's limit, and the
concurrency sweep at +20 ms."""

from __future__ import annotations

from .configurations import ASYNC_SERVERS, POOL, SWEEP_APPS, SWEEP_IN_FLIGHT, SWEEP_LATENCY_MS, sweep_key


def ok_cells(cells: list[dict], endpoint: str | None = None) -> list[dict]:
    return [c for c in cells if c["status"] == "ok" and (endpoint is None or c["endpoint"] == endpoint)]


def rate(cell: dict) -> float:
    """Requests per second, the median of the cell's runs."""
    return cell["summary"]["requests_per_s"]["median"]


def find(cells: list[dict], key: str, latency_ms: int) -> dict | None:
    """The measured /brands cell of a configuration at one latency."""
    for cell in ok_cells(cells, "/brands"):
        if cell["configuration"] == key and cell["latency_ms"] == latency_ms:
            return cell
    return None


def cpu_ratio(theirs: dict, ours: dict) -> float | None:
    """Server CPU per request, theirs ÷ ours: above 1, ours costs less per request."""
    a, b = (cell["summary"].get("server_cpu_us_per_request_median") for cell in (theirs, ours))
    return round(a / b, 2) if a and b else None


def ratios(results: dict) -> dict:
    """Each async server against Flask at equal processes, each app against the limit, and the sweep."""
    cells = results["cells"]
    cores = results["meta"]["machine"]["cores"]
    found: dict = {"against_flask": []}
    # An async server against the sync one with the same number of processes.
    comparisons = [(f"{app}-{cores}", f"flask-{cores}") for app in ASYNC_SERVERS]
    comparisons += [(f"flask-gthread-{cores}", f"flask-{cores}"), ("starlette-8", "flask-8"), ("aiohttp-1", "flask-8")]
    for latency_ms in sorted({c["latency_ms"] for c in ok_cells(cells)}):
        for mine, flask in comparisons:
            a, b = find(cells, mine, latency_ms), find(cells, flask, latency_ms)
            if a and b and rate(b) > 0:
                found["against_flask"].append(
                    {
                        "latency_ms": latency_ms,
                        "server": a["label"],
                        "flask": b["label"],
                        "ratio": round(rate(a) / rate(b), 2),
                        "cpu_ratio": cpu_ratio(b, a),
                    }
                )
    found["share_of_limit"] = share_of_limit(results)
    found["sweep"] = sweep(results)
    return found


def share_of_limit(results: dict) -> list[dict]:
    """Each app at 0 ms as a fraction of 1 / (1/db + 1/http): its query and its HTTP costs added on the same cores.

    db is the best database ceiling of the run (the apps' query through asyncpg, no
    HTTP); http is the bare app of the same interface (ASGI for the async servers,
    aiohttp included; WSGI for Flask), no database. What an app loses beyond that
    is its framework's own work.
    """
    cells = [c for c in results["cells"] if c["status"] == "ok" and c["latency_ms"] == 0]
    brands = [c for c in cells if c["endpoint"] == "/brands"]
    db = max((c for c in brands if c["kind"] == "db ceiling"), key=rate, default=None)
    http = {c["app"]: c for c in cells if c["kind"] == "http ceiling"}
    rows = []
    for app in sorted((c for c in brands if c["kind"] in ("sync", "async")), key=rate, reverse=True):
        bare = http.get("raw-wsgi" if app["kind"] == "sync" else "raw-asgi")
        if db is None or bare is None:
            continue
        limit = 1 / (1 / rate(db) + 1 / rate(bare))
        rows.append(
            {
                "server": app["label"],
                "requests_per_s": rate(app),
                "db_ceiling": db["label"],
                "db_ceiling_requests_per_s": rate(db),
                "http_ceiling": bare["label"],
                "http_ceiling_requests_per_s": rate(bare),
                "limit_requests_per_s": round(limit, 1),
                "share": round(rate(app) / limit, 3),
            }
        )
    return rows


def sweep(results: dict) -> list[dict]:
    """req/s, server memory and server CPU per request for each app and requests in flight per process."""
    cells = results["cells"]
    cores = results["meta"]["machine"]["cores"]
    rows = []
    for app in SWEEP_APPS:
        for n in (POOL, *SWEEP_IN_FLIGHT):
            cell = find(cells, sweep_key(app, cores, n), SWEEP_LATENCY_MS)
            if cell is None:
                continue
            s = cell["summary"]
            rows.append(
                {
                    "app": app,
                    "in_flight_per_process": n,
                    "label": cell["label"],
                    "requests_per_s": rate(cell),
                    "socket_errors": s["socket_errors"],
                    "server_rss_mib": s.get("server_rss_mib_median"),
                    "server_cpu_us_per_request": s.get("server_cpu_us_per_request_median"),
                    "latency_bound_requests_per_s": cell["latency_bound_requests_per_s"],
                }
            )
    return rows
