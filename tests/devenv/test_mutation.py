"""make mutate's score per module, as products_db/README.md shows it."""

from __future__ import annotations

from bench import docs
from devenv import mutation


def test_the_score_counts_killed_and_timed_out_mutants_per_module() -> None:
    lines = [
        "    products_db.rules.x_decode__mutmut_1: killed",
        "    products_db.rules.x_decode__mutmut_2: survived",
        "    products_db.pool.xǁFairPoolǁacquire__mutmut_3: timeout",
        "    products_db.pool.xǁFairPoolǁacquire__mutmut_4: killed",
        "",
    ]
    results = mutation.scores(lines)
    assert results["modules"] == [
        {"module": "products_db.pool", "mutants": 2, "killed": 2},
        {"module": "products_db.rules", "mutants": 2, "killed": 1},
    ]
    assert results["survived"] == ["products_db.rules.x_decode__mutmut_2"]
    assert docs._mutation(results, "[x](y)")[-1] == "| `rules.py` | 2 | 1 (50.0 %) |"
