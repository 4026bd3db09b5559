"""`python -m bench --quick` end to end: it runs, writes every result file, and measures every cell cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from devenv.embedded import REPO_ROOT
from tests.conftest import require_tool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> tuple[subprocess.CompletedProcess, Path]:
    require_tool("wrk", "sudo apt-get install wrk (Debian/Ubuntu) or brew install wrk (macOS)")
    out = tmp_path_factory.mktemp("bench-quick")
    # The harness takes DATABASE_URL like every app does: here, the test run's database.
    env = {**os.environ, "DATABASE_URL": database_url}
    # Runs of 1 s (wrk's shortest) instead of --quick's 2 s: the same cells, half the time. A request
    # counts as an error after 10 s rather than wrk's 2 s: the suite's other tests share the cores.
    settings = ["--duration", "1", "--timeout", "10"]
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *settings, "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return result, out


@pytest.fixture(scope="module")
def results(quick_run: tuple[subprocess.CompletedProcess, Path]) -> dict:
    result, out = quick_run
    assert result.returncode == 0, f"python -m bench --quick failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_writes_every_result_file(quick_run, results: dict) -> None:
    _, out = quick_run
    for name in ("results.json", "results.md", "throughput.png", "latency.png"):
        assert (out / name).stat().st_size > 0, name
    for name in ("throughput.png", "latency.png"):
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE), name
    markdown = (out / "results.md").read_text()
    assert "| Configuration |" in markdown
    for cell in results["cells"]:
        if cell["status"] == "ok":
            assert cell["label"] in markdown


def test_records_machine_versions_and_commands(results: dict) -> None:
    meta = results["meta"]
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["cpu_model"]
    assert meta["python"]["version"]
    for package in ("aiohttp", "asyncpg", "gunicorn", "uvicorn", "starlette", "flask"):
        assert any(name.lower() == package for name in meta["packages"]), package
    assert meta["wrk"].startswith("wrk")
    for cell in results["cells"]:
        if cell["status"] == "ok":
            assert cell["command"]["argv"], cell["configuration"]


def test_every_cell_has_a_figure(results: dict) -> None:
    cells = results["cells"]
    assert cells
    measured = [cell for cell in cells if cell["status"] == "ok"]
    # aiohttp is the reference app: it is always there, so the quick run always measures something.
    assert any(cell["app"] == "aiohttp" for cell in measured)
    assert any(cell["kind"] == "db ceiling" for cell in measured)
    for cell in cells:
        name = f"{cell['configuration']} at {cell['latency_ms']} ms on {cell['endpoint']}"
        assert cell["status"] == "ok", f"{name}: {cell['reason']}"
        assert len(cell["runs"]) == results["meta"]["plan"]["repeats"], name
        for run in cell["runs"]:
            assert run["requests"] > 0 and run["requests_per_s"] > 0, name
        summary = cell["summary"]["requests_per_s"]
        assert summary["min"] <= summary["median"] <= summary["max"], name


def test_no_errors_at_modest_load(results: dict) -> None:
    for cell in results["cells"]:
        if cell["status"] == "ok":
            assert cell["summary"]["socket_errors"] == 0, cell["configuration"]
            assert cell["summary"]["errors"]["status"] == 0, cell["configuration"]


def test_added_latency_is_really_added(results: dict) -> None:
    """At 20 ms each query waits 20 ms: no request can be faster, and the bound in_flight/latency holds."""
    slow = [c for c in results["cells"] if c["status"] == "ok" and c["latency_ms"] == 20]
    assert slow
    for cell in slow:
        for run in cell["runs"]:
            assert run["latency_ms"]["p50"] >= 20, cell["configuration"]
        if cell["kind"] != "db ceiling":
            assert cell["probe_ms"] >= 20
            bound = cell["latency_bound_requests_per_s"]
            if bound is not None:
                # Loose: a little over the bound would mean some query did not wait.
                assert cell["summary"]["requests_per_s"]["max"] <= bound * 1.1, cell["configuration"]


async def test_leaves_the_database_as_it_found_it(results: dict, database_url: str) -> None:
    """The latency schemas and roles are bench-only: gone after the run, the real tables untouched."""
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'bench_lat%'") == 0
        assert await connection.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'lat%'") == 0
        assert await connection.fetchval("SELECT count(*) FROM brand") == 100
    finally:
        await connection.close()


def test_missing_wrk_says_how_to_install_it(tmp_path: Path) -> None:
    # A PATH with our Python but no wrk on it.
    (tmp_path / "python").symlink_to(sys.executable)
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "wrk is not installed" in result.stderr
    assert "apt-get install wrk" in result.stderr and "brew install wrk" in result.stderr
    assert not (tmp_path / "out").exists()


def test_reports_the_limit_and_the_sweep(quick_run, results: dict) -> None:
    """Every server cell records its memory and CPU per request; the report has the limit and sweep sections."""
    for cell in results["cells"]:
        if cell["status"] == "ok" and cell["kind"] in ("sync", "async"):
            summary = cell["summary"]
            assert summary["server_rss_mib_median"] > 0, cell["configuration"]
            assert summary["server_cpu_us_per_request_median"] > 0, cell["configuration"]
    shares = results["ratios"]["share_of_limit"]
    assert {row["server"] for row in shares} >= {"aiohttp x1 (book's command)", "starlette x2"}
    for row in shares:
        limit = 1 / (1 / row["db_ceiling_requests_per_s"] + 1 / row["http_ceiling_requests_per_s"])
        assert row["limit_requests_per_s"] == pytest.approx(limit, rel=1e-3)
    [swept] = [row for row in results["ratios"]["sweep"] if row["in_flight_per_process"] == 50]
    assert swept["app"] == "aiohttp" and swept["requests_per_s"] > 0
    _, out = quick_run
    markdown = (out / "results.md").read_text()
    assert "## Against the machine's limit at 0 ms" in markdown
    assert "## Concurrency sweep at +20 ms" in markdown
    assert (out / "sweep.png").read_bytes().startswith(PNG_SIGNATURE)
