"""`python -m bench.book` against a stand-in of the book's repository that the test writes: the listings' file names and
hard-coded settings (127.0.0.1:5432, user postgres, password 'password', database products; 9.2 on port 8080), with
code of this test's own. The comparison must run them unmodified against the test's database, and report one line for
what it cannot run while still measuring the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import book
from devenv.embedded import REPO_ROOT
from tests.conftest import require_tool

SETTINGS = "host='127.0.0.1', port=5432, user='postgres', password='password', database='products'"
QUERY = "SELECT brand_id, brand_name FROM brand"
STAND_IN = {
    # One aiohttp process, its pool made at start-up, served by run_app on its default port.
    "listing_9_2.py": f"""
import asyncpg
from aiohttp import web

async def open_pool(app):
    app['pool'] = await asyncpg.create_pool({SETTINGS}, min_size=2, max_size=2)

async def brands(request):
    return web.json_response([dict(r) for r in await request.app['pool'].fetch({QUERY!r})])

app = web.Application()
app.on_startup.append(open_pool)
app.router.add_get('/brands', brands)
web.run_app(app)
""",
    # Flask with one psycopg2 connection per process, opened at import.
    "listing_9_5.py": f"""
import psycopg2
from flask import Flask, jsonify

app = Flask(__name__)
db = psycopg2.connect("dbname=products user=postgres password=password host=127.0.0.1")

@app.route('/brands')
def brands():
    cursor = db.cursor()
    cursor.execute({QUERY!r})
    return jsonify([{{'brand_id': row[0], 'brand_name': row[1]}} for row in cursor.fetchall()])
""",
    # Starlette, its pool made by the lifespan (the suite runs it on this repository's Starlette, which has no
    # on_startup: the old release's virtualenv is the command's own business, not the suite's).
    "listing_9_8.py": f"""
import contextlib
import asyncpg
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool({SETTINGS}, min_size=2, max_size=2)
    yield
    await app.state.pool.close()

async def brands(request):
    return JSONResponse([dict(r) for r in await request.app.state.pool.fetch({QUERY!r})])

app = Starlette(routes=[Route('/brands', brands)], lifespan=lifespan)
""",
}


def write_stand_in(root: Path, files: dict[str, str]) -> Path:
    chapter = root / "chapter_09"
    chapter.mkdir(parents=True)
    for name, code in files.items():
        (chapter / name).write_text(code)
    return root


def run_book(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    # Runs of 1 s after no warm-up, at 10 connections: the machinery, not the figures.
    short = ["--runs", "1", "--duration", "1", "--warmup", "0", "--connections", "10", "--book-python", sys.executable]
    return subprocess.run(
        [sys.executable, "-m", "bench.book", *args, *short],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> tuple[dict, str, str]:
    require_tool("wrk", "sudo apt-get install wrk (Debian/Ubuntu) or brew install wrk (macOS)")
    root = write_stand_in(tmp_path_factory.mktemp("book"), STAND_IN)
    out = tmp_path_factory.mktemp("book-out")
    result = run_book(
        database_url, str(root), "--rounds", "1", "--rows", "flask-2,aiohttp-1,starlette-2", "--out", str(out)
    )
    assert result.returncode == 0, f"python -m bench.book failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((out / "book.json").read_text()), (out / "book.md").read_text(), result.stdout


@pytest.mark.slow
def test_runs_the_listings_unmodified_against_the_database_and_ours_beside_them(comparison) -> None:
    results, markdown, stdout = comparison
    assert results["failures"] == []
    assert [row["key"] for row in results["rows"]] == ["flask-2", "aiohttp-1", "starlette-2"]
    for row in results["rows"]:
        for side in ("book", "ours"):
            [runs] = row[side]  # one round, one run
            [run] = runs
            # Every answer a 200: the stand-in's hard-coded settings reached the test's database.
            assert run["requests"] > 0 and run["socket_errors"] == 0 and run["errors"]["status"] == 0, row["key"]
            assert row["summary"][side]["server_cpu_us_per_request_median"] > 0, row["key"]
        assert row["ratios"]["requests_per_s"] > 0 and row["ratios"]["cpu_per_request"] > 0
        assert row["command"] in markdown and row["command"] in stdout
    # The book's side ran in the stand-in's chapter_09 under the book's command; ours from the registry.
    [flask] = [row for row in results["rows"] if row["key"] == "flask-2"]
    assert flask["book_argv"][:4] == ["gunicorn", "-w", "2", "listing_9_5:app"]
    assert flask["ours_argv"][:4] == ["gunicorn", "-w", "8", "flask_api.app:app"] and "--workers" in flask["ours_argv"]


def test_the_markdown_is_redrawn_from_the_json(comparison, tmp_path: Path) -> None:
    results, markdown, _ = comparison
    (tmp_path / "book.json").write_text(json.dumps(results))
    assert book.main(["--redraw", str(tmp_path / "book.json")]) == 0
    assert (tmp_path / "book.md").read_text() == markdown


def test_a_listing_that_fails_or_is_missing_is_one_line_and_the_rest_is_measured(
    tmp_path: Path, database_url: str
) -> None:
    require_tool("wrk", "sudo apt-get install wrk (Debian/Ubuntu) or brew install wrk (macOS)")
    broken = {"listing_9_2.py": "raise SystemExit('this listing cannot start')\n"}  # and no 9.5 or 9.8
    root = write_stand_in(tmp_path / "book", broken)
    result = run_book(database_url, str(root), "--rounds", "1", "--rows", "flask-2,aiohttp-1", "--out", str(tmp_path))
    assert result.returncode == 1, result.stderr
    results = json.loads((tmp_path / "book.json").read_text())
    missing, failed = results["failures"]
    assert missing == f"`gunicorn -w 2` (Flask, 9.5): no chapter_09/listing_9_5.py in {root}"
    assert failed.startswith("one aiohttp process (9.2), the book, round 1: exited with code 1")
    assert failed.endswith("this listing cannot start") and "\n" not in failed
    [aiohttp] = results["rows"]
    assert aiohttp["summary"]["book"] == {} and aiohttp["summary"]["ours"]["requests"] > 0
    assert "| one aiohttp process (9.2) | not measured |" in (tmp_path / "book.md").read_text()
    assert f"- {missing}" in result.stdout and f"- {failed}" in result.stdout


@pytest.mark.parametrize("where", [None, "nowhere", "no-chapter"])
def test_a_missing_or_wrong_clone_is_one_line(tmp_path: Path, where: str | None) -> None:
    (tmp_path / "no-chapter").mkdir()
    args = [] if where is None else [str(tmp_path / where)]
    result = subprocess.run(
        [sys.executable, "-m", "bench.book", *args, "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and book.BOOK_REPOSITORY in line and "make bench-book BOOK=" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "log",
    [
        "ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 8123): address already in use",
        "[ERROR] Connection in use: ('127.0.0.1', 8123)",
    ],
)
def test_a_port_in_use_is_said_so(log: str) -> None:
    error = f"book-x exited with code 1 while starting:\n{log}\n"
    assert book._why_not_started(error, 8123) == "port 8123 is in use"


def test_the_ratio_spread_is_over_the_rounds() -> None:
    def run(rate: float, cpu_percent: float) -> dict:
        return {
            "requests_per_s": rate, "requests": int(rate), "duration_s": 1.0, "latency_ms": {"p99": 10.0},
            "errors": dict.fromkeys(("connect", "read", "write", "timeout", "status"), 0),
            "cpu_percent": {"server": cpu_percent},
        }  # fmt: skip

    # Round 1: ours twice the book's rate at half its CPU per request; round 2: 1.5 times, at the same CPU.
    row = book._with_figures(
        {"book": [[run(100, 100)], [run(100, 100)]], "ours": [[run(200, 100)], [run(150, 150)]], "command": "c"}
    )
    assert [r["requests_per_s"] for r in row["round_ratios"]] == [2.0, 1.5]
    assert [r["cpu_per_request"] for r in row["round_ratios"]] == [2.0, 1.0]
    assert book._ratio(row, "requests_per_s") == "1.75 (1.50-2.00)"  # the median of the rounds' ratios
    assert book._ratio(row, "cpu_per_request") == "1.50 (1.00-2.00)"
