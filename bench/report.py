"""The result files: everything in JSON, a Markdown table a person reads, and the PNG charts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import charts
from .analysis import ratios
from .tables import markdown

JSON_NAME = "results.json"
MARKDOWN_NAME = "results.md"
THROUGHPUT_PNG = "throughput.png"
LATENCY_PNG = "latency.png"
SWEEP_PNG = "sweep.png"


def to_json(results: dict) -> str:
    """Indented, except one line per cell: small, and a rerun diffs line by line."""
    head = {key: value for key, value in results.items() if key != "cells"}
    body = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    cells = ",\n".join("  " + json.dumps(cell, ensure_ascii=False) for cell in results["cells"])
    return f'{body},\n "cells": [\n{cells}\n ]\n}}\n'


def write(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    results = {**results, "ratios": ratios(results)}
    paths = [out / JSON_NAME, out / MARKDOWN_NAME, out / THROUGHPUT_PNG, out / LATENCY_PNG]
    paths[0].write_text(to_json(results))
    paths[1].write_text(markdown(results))
    charts.throughput_chart(results, paths[2])
    charts.latency_chart(results, paths[3])
    if charts.sweep_chart(results, out / SWEEP_PNG):
        paths.append(out / SWEEP_PNG)
    return paths


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report results.json [out]`: redraw the table and charts without measuring again."""
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
