"""The report redraws the committed results offline, and every configuration row is one the registry can start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import report
from bench.configurations import POOL, SWEEP_APPS, SWEEP_IN_FLIGHT, configurations, sweep_key
from devenv import servers
from devenv.embedded import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results"


def test_report_redraws_the_committed_results(tmp_path: Path) -> None:
    # results.md is made from results.json alone: the committed pair must agree, so a change to the
    # report code that changes a table shows here.
    source = tmp_path / "results.json"
    shutil.copy(RESULTS / "results.json", source)
    assert report.main([str(source), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "results.md").read_text() == (RESULTS / "results.md").read_text()
    assert (tmp_path / "out" / "results.json").read_text() == (RESULTS / "results.json").read_text()


@pytest.mark.parametrize("cores", [1, 2, 4, 8])
def test_every_row_is_a_registry_command_and_the_sweep_finds_its_rows(cores: int) -> None:
    rows = configurations(cores)
    for c in rows.values():
        if c.kind == "db ceiling":
            assert c.server is None, c.key
        else:
            assert c.server in servers.COMMANDS, c.key
    for app in SWEEP_APPS:
        for in_flight in (POOL, *SWEEP_IN_FLIGHT):
            assert rows[sweep_key(app, cores, in_flight)].in_flight_per_process == in_flight, (app, in_flight)
