"""`python -m bench.held`, small: aiohttp answers a new client beside 20 idle sockets, Flask's sync workers do not.

Silent sockets (no byte sent) hold a sync worker each; keep-alive ones (one GET answered) a sync worker closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.configurations import CORES
from bench.held import kib_per_connection
from devenv.embedded import REPO_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HELD = 20
REQUESTS = 4
TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def held_run(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench-held")
    # As many GETs as run at once: Flask's answer (none within the limit) costs one time limit, not several.
    settings = ["--held", str(HELD), "--requests", str(REQUESTS), "--concurrency", str(REQUESTS)]
    settings += [
        "--timeout",
        str(TIMEOUT_S),
        "--get-phase",
        "5",
        "--connect-phase",
        "10",
        "--states",
        "keep-alive,silent",
    ]
    configs = f"aiohttp-{CORES},flask-{CORES}"
    result = subprocess.run(
        [sys.executable, "-m", "bench.held", "--configs", configs, *settings, "--out", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"python -m bench.held failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((out / "held.json").read_text()), out


@pytest.mark.slow
def test_an_event_loop_holds_idle_sockets_and_still_answers(held_run: tuple[dict, Path]) -> None:
    results, _ = held_run
    [row] = [r for r in results["rows"] if r["key"] == f"aiohttp-{CORES}" and r["state"] == "silent"]
    assert row["connected"] == HELD and row["connect_failed"]["timeout"] == 0
    assert row["accepted_peak"] >= HELD  # every idle socket accepted, each a socket of a worker
    gets = row["gets"]
    assert gets["sent"] == gets["ok"] == REQUESTS, gets
    assert gets["errors"] == {"timeout": 0, "connection": 0, "status": 0}
    assert 0 < gets["p50_ms"] <= gets["p99_ms"] <= gets["max_ms"] < TIMEOUT_S * 1000
    assert 0 < row["rss_idle_mib"] and 0 < row["rss_held_mib"]
    assert row["kib_per_held"] is None  # 20 held: too few to tell from the server's drift


def test_sync_workers_leave_a_new_client_waiting(held_run: tuple[dict, Path]) -> None:
    """Each sync worker accepts one idle socket and waits on it: the rest, and every new client, queue."""
    results, _ = held_run
    [row] = [r for r in results["rows"] if r["key"] == f"flask-{CORES}" and r["state"] == "silent"]
    assert row["connected"] == HELD  # the kernel completes the handshakes into the accept queue
    assert row["accepted_peak"] <= CORES  # but a worker takes one at a time
    gets = row["gets"]
    assert gets["ok"] == 0 and gets["errors"]["timeout"] == gets["sent"] > 0, gets


def test_keep_alive_connections_asked_once_and_an_event_loop_keeps_them(held_run: tuple[dict, Path]) -> None:
    """Each held connection got a whole answer to its GET; aiohttp keeps them open (its keep-alive is 2 s)."""
    results, _ = held_run
    [row] = [r for r in results["rows"] if r["key"] == f"aiohttp-{CORES}" and r["state"] == "keep-alive"]
    assert row["connected"] == HELD and sum(row["connect_failed"].values()) == 0, row
    assert row["accepted_peak"] >= HELD
    assert row["gets"]["ok"] == REQUESTS


def test_a_sync_worker_closes_a_keep_alive_connection_and_answers_the_next(held_run: tuple[dict, Path]) -> None:
    """gunicorn's sync worker answers `Connection: close`: nothing idle is left to hold it, the new client is served."""
    results, _ = held_run
    [row] = [r for r in results["rows"] if r["key"] == f"flask-{CORES}" and r["state"] == "keep-alive"]
    assert row["connected"] == HELD and row["closed_by_server"] == HELD, row  # every one answered, then closed
    assert row["gets"]["ok"] == REQUESTS, row["gets"]


def test_writes_the_table_and_the_chart(held_run: tuple[dict, Path]) -> None:
    results, out = held_run
    meta = results["meta"]
    assert meta["machine"]["cores"] == CORES and len(meta["load_average_before"]) == 3
    assert meta["settings"]["held"] == [HELD] and list(meta["settings"]["idle_connection"]) == ["keep-alive", "silent"]
    markdown = (out / "held.md").read_text()
    assert "| Server | Held | State | Connected |" in markdown
    for row in results["rows"]:
        assert f"| {row['label']} | {HELD} | {row['state']} | {HELD} |" in markdown
    assert (out / "held.png").read_bytes().startswith(PNG_SIGNATURE)


def test_memory_per_connection_only_where_there_are_enough() -> None:
    assert kib_per_connection(10.0, 1000) == 10.2
    assert kib_per_connection(10.0, 99) is None
