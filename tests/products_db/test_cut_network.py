"""Flask and Django give up a database connection a network cut left silent, and answer 503 in bounded time.

They run on libpq, which puts no time limit on a query: over a cut link the kernel retransmits for about
fifteen minutes before it reports the loss. TCP's own checks, libpq's tcp_user_timeout and keepalives
(Settings.libpq_time_limits in products_db/config.py), bound that, but only when packets really go
missing, which a proxy on loopback cannot fake: its kernel acknowledges every byte (tests/silent_proxy.py).
So here the way to Postgres crosses a real link, a veth pair into a network namespace, and the test sets
it down:

    app -> the namespace's address, a forwarder -> our end's address, a forwarder -> Postgres
               (across the veth link)                (back across it)

The forwarders are scale_out/forward.py. The cut comes at two moments: before the query is sent (nothing
the app sends is acknowledged: tcp_user_timeout), and while Postgres holds the query (it went through,
then nothing comes back: keepalives). Namespaces need root, as in CI; without root the test skips locally
and fails in CI.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg2
import pytest

from products_db.config import SILENCE_MARGIN
from scale_out.network import free_subnet, ip, ip_binary, setup_lock
from tests.conftest import query, require_tool, tool_missing

REPO_ROOT = Path(__file__).resolve().parents[2]
STATEMENT_TIMEOUT = 2.0
ENV = {"DB_POOL_SIZE": "1", "DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT), "DB_ACQUIRE_TIMEOUT": "5"}
# The cut is noticed within the silence limit (statement timeout + margin), plus one keepalive
# interval when it comes while Postgres holds the query; plus slack for a busy machine.
BOUND = STATEMENT_TIMEOUT + SILENCE_MARGIN + 1 + 4
UNAVAILABLE = {"error": "the database is unavailable, try again later"}

# One sync worker for Flask, so that the request after the cut meets the connection the first one opened.
COMMANDS = [("flask", "--workers 1"), ("django-asgi", "")]


@dataclass(frozen=True)
class CuttableRoute:
    database_url: str  # through the link
    link: str  # the root namespace's end of the veth pair

    def cut(self) -> None:
        ip("link", "set", self.link, "down")

    def restore(self) -> None:
        ip("link", "set", self.link, "up")


NAME = re.compile(r"^cut(\d+)r?$")  # the namespace cut<pid>, the link's root end cut<pid>r


def remove_stale() -> None:
    """Namespaces and links a killed test run left behind (their pytest is gone)."""
    names = [line.split()[0] for line in ip("netns", "list", check=False).splitlines() if line.strip()]
    names += [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link", "show").splitlines()]
    for name in names:
        if (match := NAME.match(name)) and not psutil.pid_exists(int(match.group(1))):
            remove(name)


def remove(name: str) -> None:
    if name.endswith("r"):
        ip("link", "delete", name, check=False)  # and its peer in the namespace
        return
    for pid in ip("netns", "pids", name, check=False).split():
        os.kill(int(pid), signal.SIGKILL)
    ip("netns", "delete", name, check=False)


@contextmanager
def namespace_across_a_link() -> Iterator[tuple[str, str, str]]:
    """A network namespace joined to this one by one veth pair: (namespace, our address, its address)."""
    netns, link = f"cut{os.getpid()}", f"cut{os.getpid()}r"
    with setup_lock():  # scale_out's: no cluster starting now takes the same subnet
        remove_stale()
        ours, theirs = list(free_subnet().hosts())[:2]
        try:
            ip("netns", "add", netns)
            ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
            ip("addr", "add", f"{ours}/24", "dev", link)
            ip("link", "set", link, "up")
            ip("-n", netns, "addr", "add", f"{theirs}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
        except BaseException:
            remove(netns)
            remove(link)
            raise
    try:
        yield netns, str(ours), str(theirs)
    finally:
        remove(netns)
        remove(link)


@contextmanager
def forwarder(argv: list[str]) -> Iterator[None]:
    """scale_out/forward.py, listening once it has printed its line; it stops when its stdin closes."""
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("forwarding "), line
        yield
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@pytest.fixture
def cuttable_route(database_url: str) -> Iterator[CuttableRoute]:
    if os.geteuid() != 0:
        tool_missing("cutting a link needs a network namespace, and so root: run the suite as root (as CI does)")
    require_tool("ip", "apt-get install iproute2")
    parts = urlsplit(database_url)
    forward = [sys.executable, "-m", "scale_out.forward"]
    postgres = [parts.hostname or "127.0.0.1", str(parts.port or 5432)]
    with namespace_across_a_link() as (netns, ours, theirs):
        our_port, their_port = free_port(ours), 5432  # the namespace is ours alone
        with (
            forwarder([*forward, ours, str(our_port), *postgres]),
            forwarder([ip_binary(), "netns", "exec", netns, *forward, theirs, str(their_port), ours, str(our_port)]),
        ):
            user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
            url = urlunsplit(parts._replace(netloc=f"{user}{theirs}:{their_port}"))
            yield CuttableRoute(url, f"cut{os.getpid()}r")


def get_brands(base_url: str) -> tuple[float, httpx.Response | Exception]:
    """GET /brands: how long it took, and the answer (or what stopped it: no answer within 3 x BOUND)."""
    began = time.monotonic()
    try:
        answer: httpx.Response | Exception = httpx.get(f"{base_url}/brands", timeout=3 * BOUND)
    except httpx.HTTPError as error:
        answer = error
    return time.monotonic() - began, answer


def assert_unavailable(name: str, elapsed: float, answer: httpx.Response | Exception) -> None:
    assert isinstance(answer, httpx.Response), f"{name}: no answer after {elapsed:.1f} s: {answer!r}"
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert answer.json() == UNAVAILABLE
    assert elapsed < BOUND, f"{name}: answered 503 after {elapsed:.1f} s"


def assert_recovers(base_url: str, deadline: float = 30.0) -> None:
    """Once the link is back, a fresh connection serves: a 200 within `deadline` seconds."""
    give_up = time.monotonic() + deadline
    statuses = []
    while time.monotonic() < give_up:
        _, answer = get_brands(base_url)
        statuses.append(getattr(answer, "status_code", repr(answer)))
        if statuses[-1] == 200:
            return
        time.sleep(0.5)
    pytest.fail(f"no 200 within {deadline:g} s of the link coming back: {statuses}")


@pytest.mark.parametrize(("name", "extra"), COMMANDS)
def test_a_cut_before_the_query_is_answered_503_in_bounded_time(
    start_server, cuttable_route: CuttableRoute, name: str, extra: str
) -> None:
    with start_server(name, env=ENV, database_url=cuttable_route.database_url, extra_args=extra) as server:
        assert get_brands(server.url)[1].status_code == 200  # the pool's connection is open, through the link

        cuttable_route.cut()
        elapsed, answer = get_brands(server.url)
        assert_unavailable(name, elapsed, answer)
        print(f"\n{name}: cut before the query, 503 after {elapsed:.2f} s")

        cuttable_route.restore()
        assert_recovers(server.url)


@pytest.mark.parametrize(("name", "extra"), COMMANDS)
def test_a_cut_while_postgres_holds_the_query_is_answered_503_in_bounded_time(
    start_server, database_url: str, cuttable_route: CuttableRoute, name: str, extra: str
) -> None:
    with start_server(name, env=ENV, database_url=cuttable_route.database_url, extra_args=extra) as server:
        assert get_brands(server.url)[1].status_code == 200

        # The test's own connection (not through the link) locks the table: the app's query reaches
        # Postgres, is acknowledged, and waits. Then the link goes down, and no answer can come back.
        locker = psycopg2.connect(database_url)
        try:
            with locker.cursor() as cursor:
                cursor.execute("LOCK TABLE brand IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(1) as pool:
                request = pool.submit(get_brands, server.url)
                waiting_for_lock(database_url)
                cuttable_route.cut()
                locker.rollback()  # Postgres runs the query now; its answer stops at the cut link
                elapsed, answer = request.result()
        finally:
            locker.close()
        assert_unavailable(name, elapsed, answer)
        print(f"\n{name}: cut while Postgres held the query, 503 after {elapsed:.2f} s")

        cuttable_route.restore()
        assert_recovers(server.url)


WAITING_FOR_LOCK = "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%brand%'"


def waiting_for_lock(database_url: str, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if query(database_url, WAITING_FOR_LOCK):
            return
        time.sleep(0.05)
    pytest.fail(f"the app's query was not waiting for the table lock within {timeout:g} s")
