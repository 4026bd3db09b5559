"""Shared fixtures: one real Postgres per test run, and documented server commands run as subprocesses."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg2
import psycopg2.extras
import pytest

from products_db import servers
from products_db.schema import prepare
from products_db.throwaway import throwaway_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(executable: str, install_hint: str) -> str:
    """Path of a system tool; a missing one skips locally and fails in CI, where it must be there."""
    path = shutil.which(executable)
    if path is None:
        message = f"{executable} is not installed: {install_hint}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def query(database_url: str, sql: str, *args: object) -> list[dict]:
    """Run one query against the test database from a plain (sync) test."""
    with psycopg2.connect(database_url) as connection:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(sql, args or None)
            rows = [dict(row) for row in cursor.fetchall()] if cursor.description else []
    connection.close()
    return rows


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """DATABASE_URL if set (schema and seed created if missing); else a throwaway embedded server."""
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        asyncio.run(prepare(url))
        yield url
        return
    with throwaway_server() as url:
        asyncio.run(prepare(url))
        yield url


StartServer = Callable[..., AbstractContextManager[servers.RunningServer]]


@pytest.fixture(scope="session")
def start_server(database_url: str) -> StartServer:
    """`with start_server("aiohttp") as server:` runs a documented command against the test database."""

    def start(name: str, **kwargs) -> AbstractContextManager[servers.RunningServer]:
        kwargs.setdefault("database_url", database_url)
        return servers.run(name, **kwargs)

    return start


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A whole-suite run fails if a documented server command was never started by any test."""
    config = session.config
    tests_dir = config.rootpath / "tests"
    whole_suite = {(config.invocation_params.dir / a).resolve() for a in config.args} <= {tests_dir, config.rootpath}
    selected = config.getoption("keyword") or config.getoption("markexpr")
    if exitstatus != 0 or not whole_suite or selected or config.option.collectonly:
        return
    never = sorted(set(servers.COMMANDS) - servers.STARTED)
    if never:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"documented server commands no test started: {', '.join(never)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
