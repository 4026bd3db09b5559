"""`make mutate`'s score: mutmut's results per module, written to products_db/mutation.json and printed.

products_db/README.md shows the score rendered from that file (`python -m bench.docs`), so the table is the last
run's, never a figure typed by hand.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

from devenv.embedded import REPO_ROOT

RESULTS = REPO_ROOT / "products_db" / "mutation.json"
NOTICED = ("killed", "timeout")  # a mutant some test failed on, or that made a test run past mutmut's limit


def scores(lines: list[str]) -> dict:
    """mutmut's `results --all true` lines ('  products_db.rules.x_f__mutmut_3: killed') counted per module."""
    mutants: Counter[str] = Counter()
    killed: Counter[str] = Counter()
    survived = []
    for line in lines:
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.rsplit(".", 1)[0]
        mutants[module] += 1
        killed[module] += status in NOTICED
        if status == "survived":
            survived.append(name)
    modules = [{"module": m, "mutants": mutants[m], "killed": killed[m]} for m in sorted(mutants)]
    return {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "python": platform.python_version()},
            "command": "make mutate",
        },
        "modules": modules,
        "survived": sorted(survived),
    }


def main() -> int:
    mutmut = [sys.executable, "-m", "mutmut", "results", "--all", "true"]
    output = subprocess.run(mutmut, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    results = scores(output.splitlines())
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    for row in results["modules"]:
        share = 100 * row["killed"] / row["mutants"]
        print(f"{row['module']:<24} {row['killed']:4d} of {row['mutants']:4d} mutants killed  {share:5.1f}%")
    print("survived (products_db/README.md says why each is kept; mutmut show NAME shows one):")
    print("\n".join(f"  {name}" for name in results["survived"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
