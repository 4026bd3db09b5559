"""Shared fixtures: one real Postgres per test run, and documented server commands run as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NoReturn

import psycopg2
import psycopg2.extras
import pytest
from playwright.async_api import Browser, async_playwright

from devenv import embedded, servers
from devenv.throwaway import restartable_server, seeded_database
from products_db.http_limits import MAX_HEADER_BYTES, MAX_REQUEST_HEADERS
from products_db.schema import prepare

# Fixtures that live in a module of their own.
pytest_plugins = ["tests.parallel", "tests.silent_proxy", "tests.cuttable_route"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(executable: str, install_hint: str) -> str:
    """Path of a system tool; a missing one skips locally and fails in CI, where it must be there."""
    path = shutil.which(executable)
    if path is None:
        tool_missing(f"{executable} is not installed: {install_hint}")
    return path


def tool_missing(message: str) -> NoReturn:
    """Skip locally (the message says how to install it); fail in CI, where .ci/run installs every tool."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


# A line in the format every app logs in (products_db/logs.py, LOG_FORMAT).
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<logger>[\w.]+) pid=(?P<pid>\d+): (?P<message>.*)$"
)


def log_lines(output: str, level: str = "ERROR") -> list[re.Match[str]]:
    """The lines of a server's output in the shared log format, at one level."""
    found = (LOG_LINE.match(line) for line in output.splitlines())
    return [match for match in found if match and match["level"] == level]


def query(database_url: str, sql: str, *args: object) -> list[dict]:
    """Run one query against the test database from a plain (sync) test."""
    with psycopg2.connect(database_url) as connection:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(sql, args or None)
            rows = [dict(row) for row in cursor.fetchall()] if cursor.description else []
    connection.close()
    return rows


def with_query(url: str, **params: str) -> str:
    """A database URL with more query parameters (already percent-encoded), such as application_name."""
    return url + ("&" if "?" in url else "?") + "&".join(f"{key}={value}" for key, value in params.items())


def expect_continue_upload(port: int, content_length: int) -> tuple[bytes, bytes]:
    """Announce a JSON POST /product of content_length bytes with Expect: 100-continue and send no body.

    Returns the head and body of the answer: a server that refuses the size up front
    answers at once, without the "100 Continue" that would invite the upload.
    """
    request = (
        "POST /product HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def raw_exchange(port: int, request: bytes, timeout: float = 30) -> bytes:
    """Send request bytes as they are (httpx refuses some) and read the whole answer, until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may answer and close before it has read everything
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass  # closed with bytes of ours unread: the answer came first
    return answer


def raw_request(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send request bytes as they are and read until the server closes: (status line, body)."""
    head, _, body = raw_exchange(port, request).partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


def get_with_headers(port: int, count: int, size: int = 1) -> tuple[bytes, bytes]:
    """GET /brands with `count` header fields in all (Host and Connection included), the last of `size` bytes."""
    fields = [b"Host: 127.0.0.1", b"Connection: close"]
    fields += [b"X-Header-%d: v" % i for i in range(count - 3)]
    fields.append(b"X-Last: " + b"v" * max(1, size - len(b"X-Last: ")))
    return raw_request(port, b"GET /brands HTTP/1.1\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n")


# (header fields in all, bytes of the longest, status): gunicorn's bounds, every app's default.
DEFAULT_HEADER_BOUNDS = [
    (MAX_REQUEST_HEADERS, 100, 200),
    (MAX_REQUEST_HEADERS + 1, 100, 431),
    (10, MAX_HEADER_BYTES, 200),
    (10, MAX_HEADER_BYTES + 1, 431),
    (1000, 100, 431),
    (10, 64 * 1024, 431),
]


def check_header_bounds(port: int, count: int, size: int, status: int, max_fields: int, max_bytes: int) -> None:
    line, body = get_with_headers(port, count, size)
    assert line.split(b" ")[1] == str(status).encode(), line + body[:300]
    if status == 431:
        message = (
            f"request has more than {max_fields} header fields"
            if count > max_fields
            else f"request header field 'x-last' is longer than {max_bytes} bytes"
        )
        assert json.loads(body) == {"error": message}


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """DATABASE_URL if set (schema and seed created if missing); else a throwaway embedded server."""
    with seeded_database() as url:
        yield url


@pytest.fixture(scope="session")
def restartable_database() -> Iterator[tuple[Path, int, str]]:
    """A second seeded Postgres of this test run, under pg_ctl, for the tests that stop it: (data folder, port, URL).

    Not the server of database_url: stopping that would break every other test's connections.
    """
    with restartable_server("products-pg-stoppable-") as (data_dir, port, url):
        asyncio.run(prepare(url))
        yield data_dir, port, url


@pytest.fixture
def stoppable_database(restartable_database: tuple[Path, int, str]) -> tuple[Path, int, str]:
    """restartable_database, running: the test before may have left it stopped."""
    data_dir, port, _ = restartable_database
    embedded.start(data_dir, port)  # returns at once when it is running
    return restartable_database


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (never a browser Playwright downloads)."""
    chromium = require_tool("chromium", "apt-get install chromium")
    async with async_playwright() as playwright:
        # No sandbox: the tests may run as root in a container.
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        await browser.close()


StartServer = Callable[..., AbstractContextManager[servers.RunningServer]]


@pytest.fixture(scope="session")
def start_server(database_url: str) -> StartServer:
    """`with start_server("aiohttp") as server:` runs a documented command against the test database."""

    def start(name: str, **kwargs) -> AbstractContextManager[servers.RunningServer]:
        kwargs.setdefault("database_url", database_url)
        return servers.run(name, **kwargs)

    return start


# The listings of chapter 9, as the top README's map numbers them.
LISTINGS = [f"9.{n}" for n in range(1, 16)]

# The listings whose code each documented command serves (devenv/commands.py): a test run against a command
# given as a parameter (commands()) carries them. Django's REST API is past the book: the listings of its pages
# are carried by their own tests (tests/django_async_views/), not by every test against a Django command.
COMMAND_LISTINGS: dict[str, tuple[str, ...]] = {
    name: () if name.startswith("django") else command.listings for name, command in servers.COMMANDS.items()
}


def commands(*names: str) -> list:
    """Documented commands as test parameters, each marked with the listing it serves: `--listing` finds them."""
    return [
        pytest.param(name, marks=[pytest.mark.listing(*COMMAND_LISTINGS[name])] if COMMAND_LISTINGS[name] else [])
        for name in names
    ]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--listing",
        action="append",
        default=[],
        choices=LISTINGS,
        metavar="9.N",
        help="run only the tests marked with this listing of the book (repeatable); make test LISTING=9.N",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --listing: keep the tests that carry one of the listings asked for (@pytest.mark.listing)."""
    wanted = set(config.getoption("listing"))
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        numbers = {number for mark in item.iter_markers("listing") for number in mark.args}
        (keep if numbers & wanted else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A whole-suite run fails if a documented server command was never started by any test."""
    config = session.config
    if hasattr(config, "workerinput"):
        return  # a pytest-xdist worker: the controller checks, once every worker has said what it started
    tests_dir = config.rootpath / "tests"
    whole_suite = {(config.invocation_params.dir / a).resolve() for a in config.args} <= {tests_dir, config.rootpath}
    selected = config.getoption("keyword") or config.getoption("markexpr") or config.getoption("listing")
    if exitstatus != 0 or not whole_suite or selected or config.option.collectonly:
        return
    never = sorted(set(servers.COMMANDS) - servers.STARTED)
    if never:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"documented server commands no test started: {', '.join(never)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
