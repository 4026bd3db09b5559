"""The figures machinery of RELIABILITY.md: what a test records is what the document shows, lowest to highest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import docs
from devenv.embedded import REPO_ROOT
from tests import figures


def test_a_recorded_figure_lands_in_the_results_as_its_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORD_FIGURES", str(tmp_path))
    for value in (4.04, 4.46, 4.21):
        figures.record("cut-network", "`flask`: 503 after", value, "s")
    figures.record("log-bytes", "`aiohttp`: log per refused request", 148.0, "B")
    results = figures.collect(tmp_path)
    by_what = {figure["what"]: figure for figure in results["figures"]}
    assert by_what["`flask`: 503 after"] | {"low": 4.04, "high": 4.46, "count": 3} == by_what["`flask`: 503 after"]
    rendered = docs._figures("cut-network")(results, "[here](x)")
    assert rendered[-1] == "| `flask`: 503 after | 4.0 to 4.5 s | 3 |"
    assert docs._figures("log-bytes")(results, "")[-1] == "| `aiohttp`: log per refused request | 148 B | 1 |"


def test_without_the_variable_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECORD_FIGURES", raising=False)
    monkeypatch.chdir(tmp_path)
    figures.record("cut-network", "`flask`: 503 after", 4.0, "s")
    assert list(tmp_path.iterdir()) == []


def test_every_group_a_document_shows_is_recorded_by_a_file_that_make_figures_runs() -> None:
    shown = {
        group
        for document in docs.DOCUMENTS
        for source, group in re.findall(r"<!-- from (\S+) (\S+) -->", (REPO_ROOT / document).read_text())
        if source == "tests/results/figures.json"
    }
    # record("group", ...), or the group held in a variable first, as the counter's test does.
    written = re.compile(r'(?:record\(\s*|group = )"([\w-]+)"')
    recorded = {group for file in figures.FILES for group in written.findall((REPO_ROOT / file).read_text())}
    assert shown, "no document shows a figure of the tests"
    assert shown <= recorded, f"shown but recorded by no file of tests.figures.FILES: {shown - recorded}"
