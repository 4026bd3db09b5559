"""results.md: the tables a person reads, from the results of a run."""

from __future__ import annotations

from .analysis import ratios, share_of_limit, sweep
from .configurations import SWEEP_LATENCY_MS

FOOTNOTE = (
    "In flight: how many requests the configuration can have waiting on the database at once "
    "(sync worker: 1, threaded worker: its threads, async process: its pool). Bound at this latency: "
    "in flight ÷ added latency, the most it can finish per second however fast the CPU. "
    "Connections per worker: how wrk's connections were spread over the worker processes halfway "
    "through each run; a keep-alive connection stays with the process that accepted it, so a worker "
    "holding most of them is bound by its own pool."
)


def markdown(results: dict) -> str:
    sections = (_header, _brands, _products, _against_flask, _limit, _sweep, _every_cell)
    lines = [line for section in sections for line in section(results)]
    return "\n".join([*lines, "", FOOTNOTE, ""])


def _section(title: str, columns: str, align: str, rows: list[str], intro: str = "") -> list[str]:
    """A titled table, or nothing when it has no rows."""
    if not rows:
        return []
    return ["", f"## {title}", "", *([intro, ""] if intro else []), columns, align, *rows]


def _header(results: dict) -> list[str]:
    meta = results["meta"]
    plan, machine = meta["plan"], meta["machine"]
    return [
        "# Benchmark results",
        "",
        f"{meta['started']}, {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB; "
        f"Python {meta['python']['version']}, {meta['wrk']}, {meta['postgres']['version'].split(' on ')[0]}. "
        f"wrk: {plan['threads']} thread, {plan['connections']} connections, {plan['timeout_s']:g} s timeout; "
        f"{plan['repeats']} x {plan['duration_s']:g} s per cell after {plan['warmup_s']:g} s of warm-up. "
        f"Figures: requests per second, median (min-max); errors are summed over the runs. "
        f"Wall time {meta['wall_s'] / 60:.1f} min. Server, wrk and Postgres share the machine.",
    ]


def _brands(results: dict) -> list[str]:
    """One row per configuration, one column per latency; the raw apps' GET / counts as their /brands."""
    return ["", "## GET /brands, by added database latency", "", BRANDS_INTRO, "", *brands_table(results)]


BRANDS_INTRO = (
    "Requests per second, median (min-max) · the server's CPU time per request served, median "
    "(every process of the server; the database's and wrk's not included)."
)


def brands_table(results: dict, keys: list[str] | None = None) -> list[str]:
    """The /brands rows of these configurations (default: every one, in the order of the run), a column per latency."""
    latencies = results["meta"]["plan"]["latencies_ms"]
    cells = [c for c in results["cells"] if c["endpoint"] in ("/brands", "/")]
    keys = keys or list(dict.fromkeys(c["configuration"] for c in cells))
    columns = "| Configuration | In flight (bound) | " + " | ".join(f"{ms} ms" for ms in latencies) + " |"
    by_key = {key: [c for c in cells if c["configuration"] == key] for key in keys}
    # A configuration added after this run has no cells in it: it gets its row at the next run.
    rows = [_brands_row(row, latencies) for row in by_key.values() if row]
    return [columns, "|---|---|" + "---:|" * len(latencies), *rows]


def _brands_row(row: list[dict], latencies: list[int]) -> str:
    figures = []
    for ms in latencies:
        cell = next((c for c in row if c["latency_ms"] == ms), None)
        if cell is None:
            figures.append("-")
        elif cell["status"] == "ok":
            figures.append(f"{_figure(cell)} · {number(cell['summary']['server_cpu_us_per_request_median'])} µs")
        else:
            figures.append(f"{cell['status']}: {cell['reason'].splitlines()[0][:60]}")
    first = row[0]
    in_flight = first["in_flight_max"] if first["in_flight_max"] is not None else "-"
    return f"| {first['label']} | {in_flight} ({first['bound']}) | " + " | ".join(figures) + " |"


def _products(results: dict) -> list[str]:
    rows = [
        f"| {c['label']} | {c['latency_ms']} ms | {_figure(c) if c['status'] == 'ok' else c['status']} | "
        f"{number(c['summary'].get('server_cpu_us_per_request_median'))} |"
        for c in results["cells"]
        if c["endpoint"] == "/products/{id}"
    ]
    columns = "| Configuration | Latency | req/s | Server CPU µs per request |"
    return _section("GET /products/{id} with random ids", columns, "|---|---:|---:|---:|", rows)


def _against_flask(results: dict) -> list[str]:
    rows = [
        f"| {r['server']} | {r['flask']} | {r['latency_ms']} ms | {r['ratio']:.2f} | "
        f"{'-' if r.get('cpu_ratio') is None else format(r['cpu_ratio'], '.2f')} |"
        for r in ratios(results)["against_flask"]
    ]
    title = "Against Flask with the same number of processes"
    columns = "| Server | Flask | Latency | Ratio of req/s | Ratio of CPU per request (Flask's ÷ the server's) |"
    return _section(title, columns, "|---|---|---:|---:|---:|", rows)


def _limit(results: dict) -> list[str]:
    limit = share_of_limit(results)
    rows = [
        f"| {r['server']} | {r['requests_per_s']:,.0f} | {r['http_ceiling']} | "
        f"{r['limit_requests_per_s']:,.0f} | {r['share']:.0%} |"
        for r in limit
    ]
    intro = (
        f"Limit = 1 / (1/db + 1/http): the best database ceiling ({limit[0]['db_ceiling'] if limit else ''}) and "
        "the bare app of the same interface (raw ASGI for the async servers, raw WSGI for Flask), their costs "
        "added on the same cores."
    )
    columns = "| Server | req/s | HTTP ceiling | Limit | Share |"
    return _section("Against the machine's limit at 0 ms", columns, "|---|---:|---|---:|---:|", rows, intro)


def _sweep(results: dict) -> list[str]:
    rows = [_sweep_row(r) for r in sweep(results)]
    intro = (
        "Requests one process may have in flight: the pool for the async apps, the threads for Flask's "
        "threaded worker (with a pool as large). Memory: resident, every server process; CPU: server "
        "processes only, per answered request."
    )
    columns = (
        "| App | In flight per process | req/s | Bound (in flight ÷ latency) | Server memory MiB | "
        "Server CPU µs per request |"
    )
    title = f"Concurrency sweep at +{SWEEP_LATENCY_MS} ms"
    return _section(title, columns, "|---|---:|---:|---:|---:|---:|", rows, intro)


def _sweep_row(r: dict) -> str:
    errors = f" ⚠ {r['socket_errors']:,} socket err" if r["socket_errors"] else ""
    return (
        f"| {r['app']} | {r['in_flight_per_process']} | {r['requests_per_s']:,.0f}{errors} | "
        f"{number(r['latency_bound_requests_per_s'])} | {number(r['server_rss_mib'])} | "
        f"{number(r['server_cpu_us_per_request'])} |"
    )


def _every_cell(results: dict) -> list[str]:
    columns = (
        "| Configuration | Endpoint | Latency | req/s median (min-max) | Server CPU µs per request | p99 ms | "
        "Socket errors c/r/w/t | HTTP ≥400 | CPU % server / Postgres / wrk / machine | Pool per process | "
        "Bound at this latency | Connections per worker |"
    )
    align = "|---|---|---:|---:|---:|---:|---|---:|---|---:|---:|---|"
    return _section("Every cell", columns, align, [_cell_row(cell) for cell in results["cells"]])


def _cell_row(cell: dict) -> str:
    pool = cell["pool_size_per_process"] if cell["pool_size_per_process"] is not None else "-"
    start = f"| {cell['label']} | {cell['endpoint']} | {cell['latency_ms']} ms |"
    if cell["status"] != "ok":
        return f"{start} {cell['status']}: {cell['reason'].splitlines()[0][:80]} | | | | | | {pool} | | |"
    s, e = cell["summary"], cell["summary"]["errors"]
    cpu = s["cpu_percent_median"]
    cpu_text = " / ".join("-" if cpu[k] is None else f"{cpu[k]:.0f}" for k in ("server", "postgres", "wrk", "machine"))
    return (
        f"{start} {_rates(cell)} | {number(s.get('server_cpu_us_per_request_median'))} | {s['p99_ms_median']:,.0f} | "
        f"{e['connect']}/{e['read']}/{e['write']}/{e['timeout']} | {e['status']} | {cpu_text} | {pool} | "
        f"{number(cell['latency_bound_requests_per_s'])}{_spread_bound(cell)} | {_spread(cell)} |"
    )


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _rates(cell: dict) -> str:
    rate = cell["summary"]["requests_per_s"]
    return f"{rate['median']:,.0f} ({rate['min']:,.0f}-{rate['max']:,.0f})"


def _figure(cell: dict) -> str:
    """Requests per second, median (min-max), and the errors if there were any."""
    s = cell["summary"]
    problems = []
    if s["socket_errors"]:
        problems.append(f"{s['socket_errors']:,} socket err")
    if s["errors"]["status"]:
        problems.append(f"{s['errors']['status']:,} HTTP err")
    return _rates(cell) + (f" ⚠ {', '.join(problems)}" if problems else "")


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


def held_table(results: dict) -> list[str]:
    """One row per server and N: what it held, how a new client fared meanwhile, what the held ones cost."""
    lines = [
        "| Server | Held | State | Connected | Server held: peak | at end | Fresh GET p50 ms | p99 ms | Answered"
        " | Errors | RSS idle MiB | RSS held MiB | KiB per held connection |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in results["rows"]:
        state = row.get("state", "silent")  # the only state of runs before there were two
        if "error" in row:
            lines.append(f"| {row['label']} | {row['held']:,} | {state} | failed: {row['error'][:80]} |" + " |" * 9)
            continue
        gets = row["gets"]
        errors = ", ".join(f"{n} {kind}" for kind, n in gets["errors"].items() if n) or "0"
        cells = [
            row["label"],
            f"{row['held']:,}",
            state,
            f"{row['connected']:,}",
            f"{row['accepted_peak']:,}",
            f"{row['held_at_end']:,}",
            _ms(gets["p50_ms"]),
            _ms(gets["p99_ms"]),
            f"{gets['ok']}/{gets['sent']}",
            errors,
            f"{row['rss_idle_mib']:,.0f}",
            f"{row['rss_held_mib']:,.0f}",
            "-" if row["kib_per_held"] is None else f"{row['kib_per_held']:,.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def held_intro(results: dict) -> str:
    meta, s = results["meta"], results["meta"]["settings"]
    machine = meta["machine"]
    return (
        f"{meta['started'][:16].replace('T', ' ')} UTC, {machine['cores']} cores ({machine['cpu_model']}), "
        f"load average {' / '.join(f'{x:g}' for x in meta['load_average_before'])} before, "
        f"{' / '.join(f'{x:g}' for x in meta['load_average_after'])} after. Held connections, from a process of "
        f"their own: {_states(s['idle_connection'])}. Fresh GET: `GET /brands` on a new connection, "
        f"up to {s['requests']} of them, {s['concurrency']} at a time, for at most {s['get_phase_s']:g} s, "
        f"each an error after {s['timeout_s']:g} s."
    )


def _states(described: dict[str, str] | str) -> str:
    """'keep-alive: what it is; silent: what it is' (runs before there were two states: the one description)."""
    if isinstance(described, str):
        return described
    return "; ".join(f"{state}, {what}" for state, what in described.items())


HELD_NOTES = """\
Connected: handshakes the holder completed (the kernel completes them into the server's accept queue,
accepted or not). Server held: sockets the server's processes had open above their idle baseline, at
their peak while the holder connected (a server that closes idle sockets after a few seconds held its
most then), and after the fresh GETs. Answered: fresh GETs answered 200 of those sent; an error is a
GET with no answer within the limit (timeout), a refused or reset connection, or another status.
RSS: resident memory of every server process, idle (after a warm-up) and at that peak; KiB per held
connection is their difference divided by the sockets the server held (none below 100 held: the
server's own drift would dominate). Every row is a fresh start of the server's documented command,
one process per core."""


def held_markdown(results: dict) -> str:
    """held.md, from the results of `python -m bench.held`."""
    lines = ["# Held connections (`python -m bench.held`)", "", held_intro(results), "", *held_table(results)]
    return "\n".join([*lines, "", HELD_NOTES, ""])
