"""RELIABILITY.md states the loads its tests really apply: each figure of its table is built here from the tests' own
constants, so a test that grows or shrinks its load, or a claim above the load, fails here."""

from __future__ import annotations

import pytest

from devenv.embedded import REPO_ROOT
from products_db.config import DEFAULT_POOL_SIZE
from tests import test_slow_clients as slow
from tests.contract import test_load as load
from tests.products_db import test_cut_network as cut
from tests.products_db import test_db_time_limits as limits
from tests.products_db import test_outage as outage

TABLE = (REPO_ROOT / "RELIABILITY.md").read_text().split("## In one table", 1)[1].split("\n## ", 1)[0]


def _row(test_file: str, load_words: str) -> str:
    """The table's row of that test whose load cell holds these words."""
    rows = [line for line in TABLE.splitlines() if f"[`{test_file}`]" in line and load_words in line]
    assert len(rows) == 1, f"RELIABILITY.md has {len(rows)} rows of {test_file} saying {load_words!r}"
    return rows[0]


@pytest.mark.parametrize(
    ("test_file", "load_words", "asserted"),
    [
        (
            "test_outage.py",
            f"for {outage.DOWN_FOR:g} s while {outage.CLIENTS} clients",
            f"within {outage.BACK_WITHIN:g} s of Postgres being back",
        ),
        ("test_load.py", f"{load.CLIENTS:,} clients at once, {load.REQUESTS_PER_CLIENT} `GET /brands` each", ""),
        ("test_load.py", f"{load.WRITES:,} `POST /product`, {load.WRITES_IN_FLIGHT} in flight", f"all {load.WRITES:,}"),
        ("test_slow_clients.py", f"{slow.SLOW_HEADER_SOCKETS} slow-header sockets held open", ""),
        (
            "test_slow_clients.py",
            f"{slow.NGINX_SLOW_HEADERS} slow-header and {slow.NGINX_SLOW_BODIES} slow-body sockets",
            "20 of 20 GETs",  # timed_gets(count=20) in the test
        ),
        ("test_slow_clients.py", f"`BODY_TIMEOUT={slow.BODY_TIMEOUT:g}`", ""),
        (
            "test_db_time_limits.py",
            f"locked for up to {limits.LOCK_HELD_S:g} s, pool of {limits.LIMITS['DB_POOL_SIZE']}, "
            f"`DB_ACQUIRE_TIMEOUT={limits.LIMITS['DB_ACQUIRE_TIMEOUT']}`, "
            f"`DB_STATEMENT_TIMEOUT={limits.LIMITS['DB_STATEMENT_TIMEOUT']}`",
            f"within {limits.LOCK_HELD_S / 2:g} s",
        ),
        (
            "test_cut_network.py",
            f"`DB_STATEMENT_TIMEOUT={cut.STATEMENT_TIMEOUT:g}`",
            f"within {cut.BOUND:g} s",
        ),
    ],
)
def test_each_row_states_the_load_its_test_applies(test_file: str, load_words: str, asserted: str) -> None:
    assert asserted in _row(test_file, load_words)


def test_the_connection_bounds_are_the_tests_processes_times_the_pool() -> None:
    row = _row("test_load.py", "clients at once")
    pool = DEFAULT_POOL_SIZE  # the load test's servers run with the default pool
    flask = load.PROCESSES["flask"]
    bounds = {"aiohttp": "aiohttp", "Starlette": "starlette", "Django": "django-asgi"}
    for shown, name in bounds.items():
        assert f"{shown} {load.PROCESSES[name] * pool}" in row, shown
    assert f"Flask {flask} (one per worker)" in row
