"""Slow clients against the documented commands: a stalled body, slow headers, and a SIGTERM with requests queued.

Raw sockets, so a client can stop half-way through a request as no HTTP library would.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from devenv import servers
from devenv.embedded import free_port
from products_db.timeouts import BodyTimeout
from tests.conftest import query
from tests.scale_out.support import need_nginx

BODY_TIMEOUT = 2.0  # low, so that the test is short; the default is products_db.timeouts.DEFAULT_BODY_TIMEOUT
APPS = ["aiohttp", "flask", "starlette", "django-asgi"]
ASYNC_APPS = ["aiohttp", "starlette", "django-asgi"]
# The loads of the slow-header tests, as RELIABILITY.md states them (tests/test_reliability_doc.py checks it).
SLOW_HEADER_SOCKETS = 300  # held open against each async server
NGINX_SLOW_HEADERS, NGINX_SLOW_BODIES = 50, 20  # held open against Flask behind nginx


def new_product(name: str) -> bytes:
    return json.dumps({"product_name": name, "brand_id": 1}).encode()


def post_head(port: int, *, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /product HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> tuple[int, dict]:
    """Status and JSON body of one answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed in the middle of the answer: {body!r}"
        body += chunk
    return int(lines[0].split()[1]), json.loads(body)


def stalled_post(port: int, *, chunked: bool, wait: float = 30) -> tuple[float, int, dict]:
    """Send the headers and the first bytes of a body, then nothing: (seconds until the answer, status, body)."""
    body = new_product(f"stalled {time.monotonic_ns()}")
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        if chunked:
            sock.sendall(post_head(port, length=None) + b"%x\r\n%s\r\n" % (10, body[:10]))
        else:
            sock.sendall(post_head(port, length=len(body)) + body[:10])
        started = time.monotonic()
        status, answer = read_answer(sock)
        return time.monotonic() - started, status, answer


def post_in_pieces(port: int, name: str, pause: float) -> tuple[int, dict]:
    """A chunked POST whose body arrives in two pieces, `pause` seconds apart."""
    body = new_product(name)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(post_head(port, length=None) + b"%x\r\n%s\r\n" % (10, body[:10]))
        time.sleep(pause)
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 10, body[10:]))
        return read_answer(sock)


@contextmanager
def slow_clients(port: int, headers: int, bodies: int = 0, within: float = 120) -> Iterator[None]:
    """Sockets that send a request a byte at a time (slowloris), each byte a second apart, until the block ends.

    `headers` of them never finish their headers; `bodies` send whole headers, then trickle a body.
    """
    socks: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        deadline = time.monotonic() + within
        while not stop.wait(1.0) and time.monotonic() < deadline:
            for sock in socks:
                try:
                    sock.send(b"x")
                except OSError:
                    pass  # the server gave up on it: that is allowed

    try:
        for _ in range(headers):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            socks[-1].sendall(f"GET /brands HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
        for _ in range(bodies):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            socks[-1].sendall(post_head(port, length=100_000) + b'{"product_name": "')
        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        time.sleep(1.5)  # every socket is accepted and has sent a byte more
        yield
        stop.set()
        thread.join(timeout=10)
    finally:
        stop.set()
        for sock in socks:
            sock.close()


def timed_gets(url: str, count: int, timeout: float) -> list[tuple[int | str, float]]:
    """`count` GET /brands one after another: (status or error, seconds) of each."""
    results: list[tuple[int | str, float]] = []
    with httpx.Client(timeout=timeout) as client:
        for _ in range(count):
            started = time.monotonic()
            try:
                status: int | str = client.get(url + "/brands").status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            results.append((status, time.monotonic() - started))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", APPS)
def test_a_stalled_body_is_answered_408_json_after_body_timeout(start_server, database_url: str, name: str) -> None:
    with start_server(name, env={"BODY_TIMEOUT": str(BODY_TIMEOUT)}) as server:
        expected = {"error": BodyTimeout(BODY_TIMEOUT).message}
        for chunked in (True, False):
            seconds, status, answer = stalled_post(server.port, chunked=chunked)
            assert (status, answer) == (408, expected), chunked
            # Not before the deadline; well before the client would give up (generous: a shared machine).
            assert BODY_TIMEOUT - 0.1 <= seconds < BODY_TIMEOUT + 10, seconds
        # A body that arrives in pieces, each in time, is served as before.
        name_in_pieces = f"in pieces {time.monotonic_ns()}"
        status, answer = post_in_pieces(server.port, name_in_pieces, pause=BODY_TIMEOUT / 4)
        assert status == 201, answer
        assert query(database_url, "SELECT count(*) AS n FROM product WHERE product_name = %s", name_in_pieces) == [
            {"n": 1}
        ]
        assert httpx.get(server.url + "/brands", timeout=10).status_code == 200
        assert "Traceback" not in server.log()


@pytest.mark.slow
def test_flask_answers_408_to_a_body_that_trickles_past_body_timeout(start_server) -> None:
    """A byte every 0.2 s never lets one read wait long: only a deadline for the whole body ends it (timeouts.py)."""
    with start_server("flask", env={"BODY_TIMEOUT": str(BODY_TIMEOUT)}, extra_args="-w 1") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(post_head(server.port, length=1000) + b'{"product_name": "')
            started = time.monotonic()
            answered_while_trickling = False
            for _ in range(int(BODY_TIMEOUT * 5) * 4):  # bounded: four times as long as the deadline
                time.sleep(0.2)
                if select.select([sock], [], [], 0)[0]:
                    answered_while_trickling = True
                    break
                sock.sendall(b"x")
            seconds = time.monotonic() - started
            status, answer = read_answer(sock)
    # A limit on each read alone would wait for the trickle to stop, then answer.
    assert answered_while_trickling, (status, answer, seconds)
    assert (status, answer) == (408, {"error": BodyTimeout(BODY_TIMEOUT).message})
    assert BODY_TIMEOUT - 0.1 <= seconds < BODY_TIMEOUT + 10, seconds  # generous: a shared machine


@pytest.mark.slow
@pytest.mark.parametrize("name", ASYNC_APPS)
def test_an_async_server_keeps_answering_with_hundreds_of_slow_header_sockets(start_server, name: str) -> None:
    """One event loop holds a socket that never finishes its headers for the price of a file descriptor."""
    with start_server(name) as server, slow_clients(server.port, headers=SLOW_HEADER_SOCKETS):
        results = timed_gets(server.url, count=10, timeout=10)
    assert all(status == 200 for status, _ in results), results
    assert max(seconds for _, seconds in results) < 5, results  # generous: each takes milliseconds alone


@contextmanager
def nginx_in_front(*ports: int) -> Iterator[str]:
    """`python -m scale_out.nginx --rest ...`: the repository's nginx config in front of running servers."""
    need_nginx()
    port = free_port()
    rest = [arg for p in ports for arg in ("--rest", f"127.0.0.1:{p}")]
    nginx = subprocess.Popen(
        [sys.executable, "-m", "scale_out.nginx", "--port", str(port), *rest],
        cwd=servers.REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert nginx.stdout is not None
        assert nginx.stdout.readline().startswith(f"nginx: http://127.0.0.1:{port}/ in front of")
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=30)


@pytest.mark.slow
def test_flask_behind_nginx_keeps_answering_slow_clients_that_stop_it_alone(start_server) -> None:
    """gunicorn's sync workers each wait for one client's whole request: eight slowloris sockets take all eight.

    nginx reads every request whole before it passes it on, so behind it the same command
    never sees a slow client (gunicorn's documentation asks for such a buffering proxy).
    """
    need_nginx()
    with start_server("flask") as server:  # gunicorn -w 8, as documented
        with slow_clients(server.port, headers=8):
            alone = timed_gets(server.url, count=1, timeout=3)
        assert alone[0][0] == "ReadTimeout", alone  # the README says so: keep it true
        with (
            nginx_in_front(server.port) as url,
            slow_clients(int(url.rsplit(":", 1)[1]), headers=NGINX_SLOW_HEADERS, bodies=NGINX_SLOW_BODIES),
        ):
            results = timed_gets(url, count=20, timeout=10)
    assert all(status == 200 for status, _ in results), results
    assert max(seconds for _, seconds in results) < 5, results


def occupy_workers(port: int, count: int, seconds: float) -> list[threading.Thread]:
    """`count` POSTs straight to a server whose bodies take `seconds` to arrive: each holds a sync worker."""

    def post() -> None:
        body = new_product(f"occupying {time.monotonic_ns()}")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(post_head(port, length=len(body)) + body[:5])
            time.sleep(seconds)
            try:
                sock.sendall(body[5:])
                sock.recv(65536)
            except OSError:
                pass

    threads = [threading.Thread(target=post, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def queued_gets(url: str, count: int) -> tuple[list[int | str], list[threading.Thread]]:
    results: list[int | str] = []

    def get() -> None:
        try:
            results.append(httpx.get(url + "/brands", timeout=30).status_code)
        except httpx.HTTPError as error:
            results.append(type(error).__name__)

    threads = [threading.Thread(target=get, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return results, threads


@pytest.mark.slow
def test_sigterm_resets_the_requests_flask_had_not_accepted_yet(start_server) -> None:
    """gunicorn finishes the requests its workers hold, but those still in the listen backlog are reset."""
    with start_server("flask") as server:
        time.sleep(3)  # every worker booted
        posts = occupy_workers(server.port, 8, seconds=1.5)
        time.sleep(0.3)
        results, gets = queued_gets(server.url, 6)
        time.sleep(0.5)  # accepted by the kernel, waiting for a worker
        os.killpg(server.process.pid, signal.SIGTERM)
        for thread in posts + gets:
            thread.join(timeout=30)
    assert len(results) == 6 and all(status != 200 for status in results), results


@pytest.mark.slow
def test_a_rolling_restart_of_flask_behind_nginx_loses_no_get(start_server) -> None:
    """Two gunicorns behind nginx: a GET reset in the stopping one's backlog is tried again on the other."""
    need_nginx()
    with ExitStack() as stack:
        first = stack.enter_context(start_server("flask"))
        second = stack.enter_context(start_server("flask"))
        url = stack.enter_context(nginx_in_front(first.port, second.port))
        time.sleep(3)  # every worker booted
        posts = occupy_workers(first.port, 8, seconds=1.5)
        time.sleep(0.3)
        results, gets = queued_gets(url, 10)  # about half of them wait in the first one's backlog
        time.sleep(0.5)
        servers.stop(first)
        for thread in posts + gets:
            thread.join(timeout=30)
        with start_server("flask", port=first.port):
            after = timed_gets(url, count=10, timeout=10)
    assert results == [200] * 10, results
    assert [status for status, _ in after] == [200] * 10, after


@pytest.mark.slow
def test_a_hup_replaces_flask_workers_without_losing_queued_requests(start_server) -> None:
    """`kill -HUP`: new workers take over the same listening socket, so the backlog survives."""
    with start_server("flask") as server:
        time.sleep(3)  # every worker booted
        posts = occupy_workers(server.port, 8, seconds=1.5)
        time.sleep(0.3)
        results, gets = queued_gets(server.url, 6)
        time.sleep(0.5)
        os.kill(server.process.pid, signal.SIGHUP)
        for thread in posts + gets:
            thread.join(timeout=30)
        assert results == [200] * 6, results
        assert "Handling signal: hup" in server.log()
