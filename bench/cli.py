"""Command-line options: which configurations, latencies, endpoints, and for how long."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from devenv.embedded import REPO_ROOT

from . import report, runner
from .configurations import CORES, configurations
from .plan import Plan
from .processes import run_main
from .wrk import WrkMissing, wrk_path

RESULTS_DIR = REPO_ROOT / "bench" / "results"

# The default matrix, sized for a full run under 15 minutes on two cores: every
# configuration but the one-process database ceiling (--configs db-1 adds it), at
# 0 and 20 ms (--latencies 0,5,20,50 for the whole curve); the sweep and the
# scale-out rows at their own latencies; /products/{id} on 4 servers: about 50
# cells, 3 runs of 3 s each after a 2 s warm-up, about 12 minutes with server starts.
DEFAULT = {
    "latencies_ms": [0, 20],
    "duration_s": 3.0,
    "repeats": 3,
    "warmup_s": 2.0,
    # The book's wrk settings: one thread, 200 connections.
    "connections": 200,
    "threads": 1,
    "timeout_s": 2.0,  # wrk's own default: a request slower than this counts as a timeout error
    # /products/{id} on the four frameworks, one process per core.
    "products_configs": [f"aiohttp-{CORES}", f"flask-{CORES}", f"starlette-{CORES}", f"django-{CORES}"],
    "products_latencies_ms": [0, 20],
    "output": RESULTS_DIR,
}
NOT_IN_DEFAULT = ["db-1"]

# --quick: prove the harness works end to end in about a minute, at modest load.
QUICK = {
    **DEFAULT,
    "duration_s": 2.0,
    "repeats": 1,
    "warmup_s": 1.0,
    "connections": 20,
    "products_configs": ["aiohttp-1"],
    "products_latencies_ms": [0],
    "output": RESULTS_DIR / "tmp" / "quick",  # git-ignored
}
QUICK_CONFIGS = [
    "aiohttp-1",
    f"flask-{CORES}",
    f"starlette-{CORES}",
    f"aiohttp-{CORES}-pool50",  # one cell of the concurrency sweep
    f"raw-asgi-{CORES}",
    "db-1",
]


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    all_configs = configurations()
    apps = dict.fromkeys(c.app for c in all_configs.values())  # in order, once each
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="wrk against every server of this repository, with and without added database latency.",
        epilog=f"Configurations: {', '.join(all_configs)}. Apps: {', '.join(apps)}.",
    )
    p.add_argument("--quick", action="store_true", help="small matrix, ~2 s per cell, modest load")
    p.add_argument("--configs", type=_names, help="configuration keys to run (default: all but db-1; see --list)")
    p.add_argument("--targets", type=_names, help="apps to run: aiohttp, flask, ... db (default: all)")
    p.add_argument("--latencies", dest="latencies_ms", type=_ints, help="added database latency in ms, e.g. 0,5,20,50")
    p.add_argument("--duration", dest="duration_s", type=float, help="seconds per run")
    p.add_argument("--repeats", type=int, help="runs per cell (median, min, max)")
    p.add_argument("--warmup", dest="warmup_s", type=float, help="seconds of wrk before measuring each server")
    p.add_argument("--connections", type=int, help="wrk connections (and database-ceiling clients)")
    p.add_argument("--threads", type=int, help="wrk threads")
    p.add_argument("--timeout", dest="timeout_s", type=float, help="wrk request timeout in seconds")
    p.add_argument("--products-configs", type=_names, help="configurations also measured on /products/{id}")
    products_latencies = "latencies at which /products/{id} is measured"
    p.add_argument("--products-latencies", dest="products_latencies_ms", type=_ints, help=products_latencies)
    out = f"result folder (default {RESULTS_DIR.relative_to(REPO_ROOT)})"
    p.add_argument("--out", dest="output", type=Path, help=out)
    p.add_argument("--list", action="store_true", help="print the configurations and exit")
    return p


def make_plan(args: argparse.Namespace) -> Plan:
    all_configs = configurations()
    keys = args.configs or (QUICK_CONFIGS if args.quick else [key for key in all_configs if key not in NOT_IN_DEFAULT])
    unknown = [key for key in keys if key not in all_configs]
    if unknown:
        raise SystemExit(f"error: unknown configuration {', '.join(unknown)}; known: {', '.join(all_configs)}")
    chosen = [all_configs[key] for key in keys if not args.targets or all_configs[key].app in args.targets]
    settings = QUICK if args.quick else DEFAULT
    # An option given on the command line wins over the matrix's setting (its dest is the Plan field's name).
    given = {name: value for name in settings if (value := getattr(args, name)) is not None}
    return Plan(configurations=chosen, **{**settings, **given})


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=True)
    if args.list:
        for c in configurations().values():
            print(f"{c.key:20} {c.label:26} {c.kind:13} {c.bound}")
        return 0
    try:
        wrk_path()
    except WrkMissing as error:
        print(f"error: {error}", file=sys.stderr)  # plain print: never wrapped mid-command
        return 2
    plan = make_plan(args)
    if not plan.configurations:
        console.print("[red]error:[/] no configuration selected")
        return 2
    results = runner.run(plan, console)
    paths = report.write(results, plan.output)
    failed = [c for c in results["cells"] if c["status"] == "failed"]
    console.print(
        f"wrote {', '.join(str(p) for p in paths)} in {results['meta']['wall_s'] / 60:.1f} min; "
        f"{len(results['cells']) - len(failed)} cells measured, {len(failed)} failed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
