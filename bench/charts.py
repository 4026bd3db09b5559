"""The charts: requests per second by configuration, against added latency, and the concurrency sweep."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from .analysis import ok_cells, rate, sweep
from .configurations import POOL, SWEEP_APPS, SWEEP_IN_FLIGHT, SWEEP_LATENCY_MS


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
    cells = [c for c in ok_cells(results["cells"]) if c["endpoint"] in ("/brands", "/")]
    latencies = results["meta"]["plan"]["latencies_ms"]
    labels = list(dict.fromkeys(cell["label"] for cell in cells))  # in the order of the run
    height = 0.8 / max(1, len(latencies))
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.32 * len(labels) * max(1, len(latencies)) ** 0.6))
    for i, ms in enumerate(latencies):
        bars = [(row, c["summary"]["requests_per_s"]) for row, c in _cells_at(cells, labels, ms)]
        if bars:
            ys = [row + i * height for row, _ in bars]
            xs = [rate["median"] for _, rate in bars]
            whiskers = [[r["median"] - r["min"] for _, r in bars], [r["max"] - r["median"] for _, r in bars]]
            ax.barh(ys, xs, height=height, xerr=whiskers, capsize=2, label=f"{ms} ms added")
    ax.set_yticks([row + height * (len(latencies) - 1) / 2 for row in range(len(labels))], labels)
    ax.invert_yaxis()
    # Log scale: the bare ASGI app is ten times faster than anything with a database.
    ax.set_xscale("log")
    ax.set_xlim(left=10)
    ax.set_xlabel("requests per second, log scale (median of runs; whiskers: min and max)")
    ax.set_title("GET /brands by configuration (raw apps: GET /, no database)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path, dpi=90)


def _cells_at(cells: list[dict], labels: list[str], latency_ms: int) -> list[tuple[int, dict]]:
    """(row, cell) for each label measured at this latency."""
    at = {c["label"]: c for c in reversed(cells) if c["latency_ms"] == latency_ms}  # the first of each label
    return [(row, at[label]) for row, label in enumerate(labels) if label in at]


def _save(fig: plt.Figure, path: Path, dpi: int) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def latency_chart(results: dict, path: Path) -> None:
    """Requests per second against added database latency, one line per configuration."""
    cells = ok_cells(results["cells"], "/brands")
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for key in dict.fromkeys(cell["configuration"] for cell in cells):
        line = sorted((c for c in cells if c["configuration"] == key), key=lambda c: c["latency_ms"])
        if len(line) < 2:
            continue
        ax.plot(
            [c["latency_ms"] for c in line],
            [rate(c) for c in line],
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
    _save(fig, path, dpi=90)


def sweep_chart(results: dict, path: Path) -> bool:
    """req/s and memory against requests in flight per process, one line per app; False if nothing to draw."""
    rows = sweep(results)
    if not rows:
        return False
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
        axis.set_xticks([POOL, *SWEEP_IN_FLIGHT])
        axis.grid(alpha=0.3)
        axis.legend()
    cores = results["meta"]["machine"]["cores"]  # the sweep's rows run one process per core
    figure.suptitle(f"GET /brands at +{SWEEP_LATENCY_MS} ms of database latency, {cores} processes each")
    _save(figure, path, dpi=110)
    return True


def held_chart(results: dict, path: Path) -> None:
    """Fresh GET p99 and server memory against idle connections held, one line per server and state (log x)."""
    rows = [{"state": "silent", **r} for r in results["rows"] if "error" not in r]  # silent: older runs' only state
    limit_ms = results["meta"]["settings"]["timeout_s"] * 1000
    figure, (latency_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    for label, state in dict.fromkeys((r["label"], r["state"]) for r in rows):
        mine = sorted((r for r in rows if (r["label"], r["state"]) == (label, state)), key=lambda r: r["held"])
        style = {
            "marker": "o" if mine[0]["kind"] == "sync" else "s",
            "linestyle": "--" if state == "silent" else "-",
            "color": f"C{labels.index(label)}",  # one colour per server, its states apart by the line
            "label": f"{label}, {state}",
        }
        # A server that answered no fresh GET in time sits on the time limit, drawn with a cross.
        p99 = [r["gets"]["p99_ms"] if r["gets"]["ok"] else limit_ms for r in mine]
        line = latency_axis.plot([r["held"] for r in mine], p99, **style)[0]
        silent = [r["held"] for r in mine if not r["gets"]["ok"]]
        latency_axis.plot(silent, [limit_ms] * len(silent), "x", color=line.get_color(), markersize=12)
        memory_axis.plot([r["held"] for r in mine], [r["rss_held_mib"] for r in mine], **style)
    latency_axis.axhline(limit_ms, color="grey", linestyle=":", linewidth=1)
    latency_axis.set_yscale("log")
    latency_axis.set_title("fresh GET /brands, p99 ms (x: no answer within the limit)")
    memory_axis.set_title("server memory while holding them, MiB (all processes)")
    for axis in (latency_axis, memory_axis):
        axis.set_xscale("log")
        axis.set_xlabel("idle connections held (log scale)")
        axis.grid(which="both", alpha=0.3)
        if axis.get_lines():
            axis.legend(fontsize="small")
    figure.suptitle(f"Idle connections held, {results['meta']['machine']['cores']} processes per server")
    _save(figure, path, dpi=110)
