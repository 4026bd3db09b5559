"""The counter's load check, small: its generator's processes against the documented command, and its failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bench import counter_load
from bench.counter_clients import Generator
from devenv.embedded import free_port

pytestmark = pytest.mark.slow

CLIENTS = 60
PROCESSES = 3


async def test_clients_from_several_processes_are_measured_together(database_url: str) -> None:
    result = await counter_load.measure("memory", CLIENTS, 1, database_url, PROCESSES)
    run = result["runs"][0]
    assert result["command"] == "uvicorn --workers 1 --ws-per-message-deflate false starlette_app.app:app"
    assert run["generator_processes"] == PROCESSES
    assert run["clients_per_worker"] == [CLIENTS]  # every client connected, all to the one worker
    assert run["messages_per_client_mean"] >= 1  # each saw the final count (else measure raises)
    assert 0 < run["connect_median_s"] <= run["connect_all_s"] < run["first_attempt_to_all_saw_final_s"] + 1e-3
    assert run["generator_cpu_s"] > 0 and run["generator_cpu_percent"] > 0
    assert run["server_rss_mib_with_clients"] > 0 and run["server_cpu_percent"] is not None
    assert counter_load.table({"memory": result})[2].startswith(f"| memory, 1 worker | {CLIENTS} |")


def test_a_generator_that_cannot_connect_fails_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="load generator process failed"):
        with Generator(f"ws://127.0.0.1:{free_port()}/counter", 4, 2) as generator:
            generator.run()
    assert time.monotonic() - started < 30


def test_sigterm_stops_the_server_it_started(database_url: str, tmp_path) -> None:
    # The server runs in a process group of its own (servers.run): if SIGTERM killed the load check
    # outright, nothing would stop it. A few thousand clients keep the check busy while it is signalled.
    check = subprocess.Popen(
        [sys.executable, "-m", "bench.counter_load", "--mode", "memory", "--clients", "3000", "--runs", "1"],
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = None
    try:
        server = wait_for_child_server(check.pid)
        check.send_signal(signal.SIGTERM)
        assert check.wait(timeout=30) == 128 + signal.SIGTERM
        server.wait(timeout=15)  # psutil: raises TimeoutExpired while it still runs
    finally:
        check.kill()
        check.wait()
        if server is not None and server.is_running():
            os.killpg(server.pid, signal.SIGKILL)  # the failure this test looks for: do not leave it running


def wait_for_child_server(parent: int) -> psutil.Process:
    """The uvicorn process the load check started, once it is listening."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in psutil.Process(parent).children():
            if "starlette_app.app:app" in " ".join(child.cmdline()) and child.net_connections(kind="tcp"):
                return child
        time.sleep(0.2)
    raise AssertionError("the load check started no server within 60 s")
