"""N `python -m aiohttp_api` behind nginx (`python -m scale_out.aiohttp_nginx`), and nginx alone before a server."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
import pytest

from devenv import servers
from devenv.embedded import free_port
from devenv.servers import RunningServer
from products_db.rules import MAX_BODY_BYTES, PayloadTooLarge
from tests.conftest import expect_continue_upload, query

from .support import descendants, established_to, need_nginx

PROCESSES = 2
BACKEND = re.compile(r"^aiohttp (\d+): http://127\.0\.0\.1:(\d+) \(pid (\d+)\)$", re.M)


@pytest.fixture(scope="module")
def front(start_server) -> Iterator[RunningServer]:
    need_nginx()
    with start_server("aiohttp-nginx", extra_args=f"--processes {PROCESSES}") as server:
        yield server


def backend_ports(server: RunningServer) -> list[int]:
    return [int(port) for _, port, _ in BACKEND.findall(server.log())]


def run_dirs(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"scale-out-{pid}-*"))


async def test_requests_are_spread_over_every_process(front: RunningServer) -> None:
    ports = backend_ports(front)
    assert len(ports) == PROCESSES
    async with httpx.AsyncClient(base_url=front.url, timeout=30) as client:
        direct = (await client.get(f"http://127.0.0.1:{ports[0]}/brands")).json()
        answers = await asyncio.gather(*(client.get("/brands") for _ in range(40)))
    assert {answer.status_code for answer in answers} == {200}
    assert all(answer.json() == direct for answer in answers)
    # nginx keeps its connections to each server open after use (keepalive): every process got some.
    assert all(established_to("127.0.0.1", port) > 0 for port in ports), ports


def test_a_product_posted_through_nginx_is_written_once(front: RunningServer, database_url: str) -> None:
    name = f"behind nginx {time.monotonic_ns()}"
    answer = httpx.post(front.url + "/product", json={"product_name": name, "brand_id": 2}, timeout=10)
    assert answer.status_code == 201
    assert answer.headers["location"] == f"/products/{answer.json()['product_id']}"
    rows = query(database_url, "SELECT brand_id FROM product WHERE product_name = %s", name)
    assert rows == [{"brand_id": 2}]


@pytest.mark.slow
def test_nginx_refuses_a_body_over_1_mib_as_the_apps_do(front: RunningServer) -> None:
    too_large = {"error": PayloadTooLarge().message}
    direct = httpx.post(
        f"http://127.0.0.1:{backend_ports(front)[0]}/product", content=b"x" * (MAX_BODY_BYTES + 1), timeout=10
    )
    assert (direct.status_code, direct.json()) == (413, too_large)
    answer = httpx.post(front.url + "/product", content=b"x" * (MAX_BODY_BYTES + 1), timeout=10)
    assert (answer.status_code, answer.json()) == (413, too_large)
    chunked = httpx.post(front.url + "/product", content=iter([b"x" * 65536] * 17), timeout=10)
    assert (chunked.status_code, chunked.json()) == (413, too_large)
    # A declared size is refused before the body is sent: no "100 Continue" comes first.
    head, body = expect_continue_upload(front.port, 2 * MAX_BODY_BYTES)
    assert head.startswith(b"HTTP/1.1 413") and b"100 Continue" not in head, head
    assert json.loads(body) == too_large
    # Up to the limit is the app's business: a 1 MiB body that is not JSON is the app's 400.
    at_limit = httpx.post(
        front.url + "/product",
        content=b" " * MAX_BODY_BYTES,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert at_limit.status_code == 400


async def test_a_killed_process_costs_no_request_and_is_started_again(front: RunningServer) -> None:
    victim = next(p for p in descendants(front) if "aiohttp_api" in p.cmdline())
    async with httpx.AsyncClient(base_url=front.url, timeout=30) as client:
        before = await asyncio.gather(*(client.get("/brands") for _ in range(10)))
        victim.kill()
        during = await asyncio.gather(*(client.get("/brands") for _ in range(40)))
    assert {answer.status_code for answer in before + during} == {200}
    deadline = time.monotonic() + 20
    while not re.search(r"aiohttp \d: restarted, pid \d+", front.log()):
        assert time.monotonic() < deadline, front.log()
        await asyncio.sleep(0.1)
    assert len([p for p in descendants(front) if "aiohttp_api" in p.cmdline()]) == PROCESSES


def test_sigterm_stops_nginx_and_every_process(start_server) -> None:
    need_nginx()
    with start_server("aiohttp-nginx", extra_args="--processes 2") as server:
        children = descendants(server)
        names = sorted(p.name() for p in children)
        assert run_dirs(server.process.pid)
    assert len([name for name in names if name == "nginx"]) >= 2, names  # master and worker(s)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
    assert not run_dirs(server.process.pid)


def test_without_nginx_it_says_how_to_install_it(database_url: str) -> None:
    command = servers.COMMANDS["aiohttp-nginx"]
    result = subprocess.run(
        command.argv(free_port()),
        cwd=servers.REPO_ROOT,
        env=servers.environment(database_url, {"NGINX": "/nonexistent/nginx"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "nginx is not installed: install it with `apt-get install nginx`" in result.stderr


def test_nginx_alone_in_front_of_a_running_server(start_server) -> None:
    """`python -m scale_out.nginx --rest HOST:PORT`, the piece the other commands are built from."""
    need_nginx()
    port = free_port()
    backend = ExitStack()
    server = backend.enter_context(start_server("aiohttp"))
    nginx = subprocess.Popen(
        [sys.executable, "-m", "scale_out.nginx", "--port", str(port), "--rest", f"127.0.0.1:{server.port}"],
        cwd=servers.REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert nginx.stdout is not None
        assert nginx.stdout.readline().startswith(f"nginx: http://127.0.0.1:{port}/ in front of")
        assert httpx.get(f"http://127.0.0.1:{port}/brands", timeout=10).status_code == 200
        # The counter's paths go to the same server when no counter is named: aiohttp has none.
        assert httpx.get(f"http://127.0.0.1:{port}/counter", timeout=10).status_code == 404
        backend.close()
        # With the server gone, nginx's answer is JSON too, not its HTML error page.
        gone = httpx.get(f"http://127.0.0.1:{port}/brands", timeout=10)
        assert (gone.status_code, gone.json()) == (502, {"error": "no server could answer, try again later"})
    finally:
        backend.close()
        nginx.send_signal(signal.SIGTERM)
        code = nginx.wait(timeout=30)
    assert code == 128 + signal.SIGTERM
    assert not run_dirs(nginx.pid)
