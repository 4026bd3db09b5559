"""results.md: the tables a person reads, from the results of a run."""

from __future__ import annotations

from .analysis import SWEEP_LATENCY_MS, ratios, share_of_limit, sweep


def _figure(cell: dict) -> str:
    s = cell["summary"]
    rate = s["requests_per_s"]
    text = f"{rate['median']:,.0f} ({rate['min']:,.0f}-{rate['max']:,.0f})"
    problems = []
    if s["socket_errors"]:
        problems.append(f"{s['socket_errors']:,} socket err")
    if s["errors"]["status"]:
        problems.append(f"{s['errors']['status']:,} HTTP err")
    return text + (f" ⚠ {', '.join(problems)}" if problems else "")


def _cpu_medians(cell: dict) -> dict[str, float | None]:
    """Median CPU per group over the runs; a negative reading (a process vanished unaccounted) is no figure."""
    medians: dict[str, float | None] = {}
    for name in ("server", "postgres", "wrk", "machine"):
        values = sorted(v for run in cell["runs"] if (v := run["cpu_percent"].get(name)) is not None and v >= 0)
        medians[name] = values[len(values) // 2] if values else None
    return medians


def _spread_bound(cell: dict) -> str:
    """The bound once the spread is known: a worker can use at most its own pool, whatever it holds."""
    if not cell["in_flight_max"] or not cell["latency_ms"]:
        return ""
    per_process = cell["in_flight_max"] // cell["processes"]
    if per_process <= 1:
        return ""  # a sync worker takes one connection at a time from the shared queue: nothing is pinned
    bounds = []
    for run in cell["runs"]:
        spread = run.get("connections_per_worker")
        if spread and len(spread) > 1:
            usable = sum(min(n, per_process) for n in spread)
            bounds.append(round(usable * 1000 / cell["latency_ms"]))
    if not bounds or all(b >= cell["latency_bound_requests_per_s"] for b in bounds):
        return ""
    return " (with this spread: " + "; ".join(f"{b:,}" for b in bounds) + ")"


def _spread(cell: dict) -> str:
    """wrk's connections per worker process, halfway through each run: "100/100; 180/20"."""
    spreads = [run.get("connections_per_worker") for run in cell["runs"]]
    spreads = [s for s in spreads if s]
    if not spreads or all(len(s) == 1 for s in spreads):
        return "-"
    return "; ".join("/".join(str(n) for n in s) for s in spreads)


def markdown(results: dict) -> str:
    meta = results["meta"]
    plan = meta["plan"]
    machine = meta["machine"]
    cells = results["cells"]
    latencies = plan["latencies_ms"]
    lines = [
        "# Benchmark results",
        "",
        f"{meta['started']}, {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB; "
        f"Python {meta['python']['version']}, {meta['wrk']}, {meta['postgres']['version'].split(' on ')[0]}. "
        f"wrk: {plan['threads']} thread, {plan['connections']} connections, {plan['timeout_s']:g} s timeout; "
        f"{plan['repeats']} x {plan['duration_s']:g} s per cell after {plan['warmup_s']:g} s of warm-up. "
        f"Figures: requests per second, median (min-max); errors are summed over the runs. "
        f"Wall time {meta['wall_s'] / 60:.1f} min. Server, wrk and Postgres share the machine.",
        "",
        "## GET /brands, by added database latency",
        "",
        "| Configuration | In flight (bound) | " + " | ".join(f"{ms} ms" for ms in latencies) + " |",
        "|---|---|" + "---:|" * len(latencies),
    ]
    order: list[str] = []
    for cell in cells:
        if cell["endpoint"] in ("/brands", "/") and cell["configuration"] not in order:
            order.append(cell["configuration"])
    for key in order:
        row = [c for c in cells if c["configuration"] == key and c["endpoint"] in ("/brands", "/")]
        first = row[0]
        figures = []
        for ms in latencies:
            cell = next((c for c in row if c["latency_ms"] == ms), None)
            if cell is None:
                figures.append("-")
            elif cell["status"] == "ok":
                figures.append(_figure(cell))
            else:
                figures.append(f"{cell['status']}: {cell['reason'].splitlines()[0][:60]}")
        in_flight = first["in_flight_max"] if first["in_flight_max"] is not None else "-"
        lines.append(f"| {first['label']} | {in_flight} ({first['bound']}) | " + " | ".join(figures) + " |")

    products = [c for c in cells if c["endpoint"] == "/products/{id}"]
    if products:
        lines += [
            "",
            "## GET /products/{id} with random ids",
            "",
            "| Configuration | Latency | req/s |",
            "|---|---:|---:|",
        ]
        for cell in products:
            figure = _figure(cell) if cell["status"] == "ok" else cell["status"]
            lines.append(f"| {cell['label']} | {cell['latency_ms']} ms | {figure} |")

    found = ratios(results)
    if found["against_flask"]:
        lines += ["", "## Against Flask with the same number of processes", ""]
        lines += ["| Server | Flask | Latency | Ratio |", "|---|---|---:|---:|"]
        for r in found["against_flask"]:
            lines.append(f"| {r['server']} | {r['flask']} | {r['latency_ms']} ms | {r['ratio']:.2f} |")
    lines += analysis_sections(results)

    lines += [
        "",
        "## Every cell",
        "",
        "| Configuration | Endpoint | Latency | req/s median (min-max) | p99 ms | Socket errors c/r/w/t | "
        "HTTP ≥400 | CPU % server / Postgres / wrk / machine | Pool per process | Bound at this latency | "
        "Connections per worker |",
        "|---|---|---:|---:|---:|---|---:|---|---:|---:|---|",
    ]
    for cell in cells:
        pool = cell["pool_size_per_process"] if cell["pool_size_per_process"] is not None else "-"
        if cell["status"] != "ok":
            lines.append(
                f"| {cell['label']} | {cell['endpoint']} | {cell['latency_ms']} ms | {cell['status']}: "
                f"{cell['reason'].splitlines()[0][:80]} | | | | | {pool} | | |"
            )
            continue
        s = cell["summary"]
        e = s["errors"]
        cpu = _cpu_medians(cell)
        cpu_text = " / ".join(
            "-" if cpu.get(k) is None else f"{cpu[k]:.0f}" for k in ("server", "postgres", "wrk", "machine")
        )
        bound = cell["latency_bound_requests_per_s"]
        lines.append(
            f"| {cell['label']} | {cell['endpoint']} | {cell['latency_ms']} ms | "
            f"{s['requests_per_s']['median']:,.0f} ({s['requests_per_s']['min']:,.0f}-"
            f"{s['requests_per_s']['max']:,.0f}) | {s['p99_ms_median']:,.0f} | "
            f"{e['connect']}/{e['read']}/{e['write']}/{e['timeout']} | {e['status']} | {cpu_text} | {pool} | "
            f"{'-' if bound is None else f'{bound:,}'}{_spread_bound(cell)} | {_spread(cell)} |"
        )
    lines += [
        "",
        "In flight: how many requests the configuration can have waiting on the database at once "
        "(sync worker: 1, threaded worker: its threads, async process: its pool). Bound at this latency: "
        "in flight ÷ added latency, the most it can finish per second however fast the CPU. "
        "Connections per worker: how wrk's connections were spread over the worker processes halfway "
        "through each run; a keep-alive connection stays with the process that accepted it, so a worker "
        "holding most of them is bound by its own pool.",
        "",
    ]
    return "\n".join(lines)


def analysis_sections(results: dict) -> list[str]:
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
