"""The result files: everything in JSON, a Markdown table a person reads, and two PNG charts."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from . import analysis

JSON_NAME = "results.json"
MARKDOWN_NAME = "results.md"
THROUGHPUT_PNG = "throughput.png"
LATENCY_PNG = "latency.png"
SWEEP_PNG = "sweep.png"

# The comparisons the README reports: an async server against the sync one with
# the same number of processes.
PAIRS = [
    ("aiohttp", "flask"),
    ("starlette", "flask"),
    ("django", "flask"),
]


def _ok(cells: list[dict], endpoint: str | None = None) -> list[dict]:
    return [c for c in cells if c["status"] == "ok" and (endpoint is None or c["endpoint"] == endpoint)]


def _rate(cell: dict) -> float:
    return cell["summary"]["requests_per_s"]["median"]


def _find(cells: list[dict], key: str, latency_ms: int, endpoint: str = "/brands") -> dict | None:
    for cell in _ok(cells, endpoint):
        if cell["configuration"] == key and cell["latency_ms"] == latency_ms:
            return cell
    return None


def ratios(results: dict) -> dict:
    """Each async server against Flask at equal processes, each app against the limit, and the sweep."""
    cells = results["cells"]
    cores = results["meta"]["machine"]["cores"]
    found: dict = {"against_flask": []}
    comparisons = [(f"{a}-{cores}", f"flask-{cores}") for a, _ in PAIRS]
    comparisons += [(f"flask-gthread-{cores}", f"flask-{cores}"), ("starlette-8", "flask-8"), ("aiohttp-1", "flask-8")]
    for latency_ms in sorted({c["latency_ms"] for c in _ok(cells)}):
        for mine, flask in comparisons:
            a, b = _find(cells, mine, latency_ms), _find(cells, flask, latency_ms)
            if a and b and _rate(b) > 0:
                found["against_flask"].append(
                    {
                        "latency_ms": latency_ms,
                        "server": a["label"],
                        "flask": b["label"],
                        "ratio": round(_rate(a) / _rate(b), 2),
                    }
                )
    found["share_of_limit"] = analysis.share_of_limit(results)
    found["sweep"] = analysis.sweep(results)
    return found


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
    lines += analysis.markdown(results)

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


def _style(cell: dict) -> dict:
    kind = cell["kind"]
    if kind == "db ceiling":
        if cell["pool_size_per_process"]:
            return {"linestyle": ":", "marker": "+", "color": "dimgrey"}
        return {"linestyle": "--", "marker": "x", "color": "black" if cell["processes"] == 1 else "darkgrey"}
    if kind == "sync":
        return {"linestyle": "-", "marker": "o"}
    return {"linestyle": "-", "marker": "s"}


def throughput_chart(results: dict, path: Path) -> None:
    """Horizontal bars, one group per configuration, one bar per latency; whiskers are min and max."""
    cells = [c for c in _ok(results["cells"]) if c["endpoint"] in ("/brands", "/")]
    latencies = results["meta"]["plan"]["latencies_ms"]
    labels: list[str] = []
    for cell in cells:
        if cell["label"] not in labels:
            labels.append(cell["label"])
    height = 0.8 / max(1, len(latencies))
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.32 * len(labels) * max(1, len(latencies)) ** 0.6))
    for i, ms in enumerate(latencies):
        ys, xs, low, high = [], [], [], []
        for row, label in enumerate(labels):
            cell = next((c for c in cells if c["label"] == label and c["latency_ms"] == ms), None)
            if cell is None:
                continue
            rate = cell["summary"]["requests_per_s"]
            ys.append(row + i * height)
            xs.append(rate["median"])
            low.append(rate["median"] - rate["min"])
            high.append(rate["max"] - rate["median"])
        if xs:
            ax.barh(ys, xs, height=height, xerr=[low, high], capsize=2, label=f"{ms} ms added")
    ax.set_yticks([row + height * (len(latencies) - 1) / 2 for row in range(len(labels))], labels)
    ax.invert_yaxis()
    # Log scale: the bare ASGI app is ten times faster than anything with a database.
    ax.set_xscale("log")
    ax.set_xlim(left=10)
    ax.set_xlabel("requests per second, log scale (median of runs; whiskers: min and max)")
    ax.set_title("GET /brands by configuration (raw apps: GET /, no database)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def latency_chart(results: dict, path: Path) -> None:
    """Requests per second against added database latency, one line per configuration."""
    cells = [c for c in _ok(results["cells"], "/brands")]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    seen: list[str] = []
    for cell in cells:
        if cell["configuration"] not in seen:
            seen.append(cell["configuration"])
    for key in seen:
        line = sorted((c for c in cells if c["configuration"] == key), key=lambda c: c["latency_ms"])
        if len(line) < 2:
            continue
        ax.plot(
            [c["latency_ms"] for c in line],
            [_rate(c) for c in line],
            label=line[0]["label"],
            **_style(line[0]),
        )
    ax.set_yscale("log")
    ax.set_xlabel("added database latency per query (ms)")
    ax.set_ylabel("requests per second (log scale)")
    ax.set_title("GET /brands as every query waits longer (circles: sync, squares: async, dashed: database)")
    ax.grid(which="both", alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def to_json(results: dict) -> str:
    """Indented, except one line per cell: small, and a rerun diffs line by line."""
    head = {key: value for key, value in results.items() if key != "cells"}
    body = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    cells = ",\n".join("  " + json.dumps(cell, ensure_ascii=False) for cell in results["cells"])
    return f'{body},\n "cells": [\n{cells}\n ]\n}}\n'


def write(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for cell in results["cells"]:
        for run in cell["runs"]:
            # As CpuMeter.percent() does today: a negative reading is no figure.
            run["cpu_percent"] = {k: (v if v is None or v >= 0 else None) for k, v in run["cpu_percent"].items()}
        if cell.get("summary"):
            cell["summary"]["cpu_percent_median"] = _cpu_medians(cell)
    results = {**results, "ratios": ratios(results)}
    paths = [out / JSON_NAME, out / MARKDOWN_NAME, out / THROUGHPUT_PNG, out / LATENCY_PNG]
    paths[0].write_text(to_json(results))
    paths[1].write_text(markdown(results))
    throughput_chart(results, paths[2])
    latency_chart(results, paths[3])
    if analysis.sweep_chart(results, out / SWEEP_PNG):
        paths.append(out / SWEEP_PNG)
    return paths


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report results.json [out]`: redraw the table and charts without measuring again."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m bench.report RESULTS_JSON [OUT_DIR]", file=sys.stderr)
        return 2
    source = Path(args[0])
    results = json.loads(source.read_text())
    for path in write(results, Path(args[1]) if len(args) > 1 else source.parent):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
