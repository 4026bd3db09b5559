"""The counter's load check, small: its generator's processes against the documented command, and its failures."""

from __future__ import annotations

import time

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
