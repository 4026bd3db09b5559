"""The figures the reliability tests measure, kept for the documents: `make figures` (`python -m tests.figures`).

A test calls `record(...)` with what it measured. In a normal run that does nothing but the test's own assertions
apply. `python -m tests.figures` runs the files in FILES with RECORD_FIGURES set, so each call appends a line to a
file of that folder (one per process: pytest-xdist's workers never share one), then writes every figure, lowest and
highest of the run, to tests/results/figures.json; `python -m bench.docs` renders the documents' regions from it
(`<!-- from tests/results/figures.json GROUP -->`, a table of the group's figures), and tests/bench/test_docs.py fails
when they differ.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from devenv.embedded import REPO_ROOT

RESULTS = REPO_ROOT / "tests" / "results" / "figures.json"
# The test files that record figures, and so what `python -m tests.figures` runs.
FILES = [
    "tests/products_db/test_silent_network.py",
    "tests/products_db/test_cut_network.py",
    "tests/products_db/test_db_time_limits.py",
    "tests/starlette_app/test_counter_postgres_restart.py",
    "tests/aiohttp_api/test_hostile_clients.py",
    "tests/test_malformed_requests.py",
    "tests/django_async_views/test_views_batch.py",
]


def record(group: str, what: str, value: float, unit: str) -> None:
    """One measurement: `what` names it within `group` (a document region), `unit` is how it is shown."""
    print(f"\n{what}: {value:,.3g} {unit}")  # pytest -s shows it in any run
    folder = os.environ.get("RECORD_FIGURES")
    if not folder:
        return
    line = json.dumps({"group": group, "what": what, "value": value, "unit": unit})
    with open(Path(folder) / f"{os.getpid()}.jsonl", "a") as out:
        out.write(line + "\n")


def collect(folder: Path) -> dict:
    """Every recorded figure, its lowest and highest value and how many times it was measured."""
    figures: dict[tuple[str, str], dict] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            key = (entry["group"], entry["what"])
            figure = figures.setdefault(key, {**entry, "low": entry["value"], "high": entry["value"], "count": 0})
            figure["low"], figure["high"] = min(figure["low"], entry["value"]), max(figure["high"], entry["value"])
            figure["count"] += 1
    # In a fixed order (xdist runs the tests in any): by group, then by what was measured.
    rows = [{k: v for k, v in figures[key].items() if k != "value"} for key in sorted(figures)]
    return {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "command": "python -m tests.figures",
        },
        "figures": rows,
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="figures-") as folder:
        env = {**os.environ, "RECORD_FIGURES": folder}
        # Every test of these files, the slow ones too, on the usual six workers.
        run = subprocess.run([sys.executable, "-m", "pytest", "-n", "6", "-q", *FILES], cwd=REPO_ROOT, env=env)
        if run.returncode != 0:
            print("python -m tests.figures: a test failed, the figures are not written", file=sys.stderr)
            return run.returncode
        results = collect(Path(folder))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(results['figures'])} figures written to {RESULTS.relative_to(REPO_ROOT)}")
    return subprocess.run([sys.executable, "-m", "bench.docs"], cwd=REPO_ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
