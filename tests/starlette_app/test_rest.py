"""Starlette-specific behaviour of the REST API (the shared contract is in tests/contract)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from devenv import servers
from products_db.config import DatabaseUnavailable, Settings
from products_db.http_limits import MAX_HEADER_BYTES, MAX_REQUEST_HEADERS
from products_db.rules import MAX_BODY_BYTES
from starlette_app.app import create_app
from tests.conftest import (
    DEFAULT_HEADER_BOUNDS,
    check_header_bounds,
    expect_continue_upload,
    raw_request,
)

pytestmark = pytest.mark.listing("9.8")


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app from its factory, in this process, with its real lifespan (a real pool on the test database)."""
    app = create_app(Settings(database_url=database_url, pool_size=2))

    async def crash(request: object) -> None:
        raise RuntimeError("a bug")

    async def database_down(request: object) -> None:
        raise asyncpg.PostgresConnectionError("connection lost")

    # Extra routes on this app only (router.routes is a copy of the shared list).
    app.router.routes += [Route("/test-crash", crash), Route("/test-database-down", database_down)]

    # What a server does with the lifespan's state: a copy in every request's scope.
    # (Starlette's TestClient would do this too, but it now wants the httpx2 package.)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            scope["state"] = dict(state)
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as test_client:
            yield test_client


@pytest.fixture(scope="module")
def server(start_server) -> Iterator[servers.RunningServer]:
    """The documented command, 8 uvicorn workers."""
    with start_server("starlette") as running:
        yield running


async def test_a_bug_is_a_json_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/test-crash")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}


async def test_a_lost_database_is_a_json_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/test-database-down")
    assert response.status_code == 503
    assert "database is unavailable" in response.json()["error"]


async def test_trailing_slash_is_404_not_a_redirect(client: httpx.AsyncClient) -> None:
    response = await client.get("/brands/", follow_redirects=False)
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


async def test_head_is_answered_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/products/1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b""


async def test_chunked_body_over_the_limit_is_413_before_the_rest_is_read(client: httpx.AsyncClient) -> None:
    # A generator makes the client send the body in chunks with no Content-Length:
    # only counting the bytes as they arrive can catch it. The in-process transport
    # pulls a chunk only when the app asks for one, so `sent` shows where it stopped.
    chunk = 64 * 1024
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(4 * MAX_BODY_BYTES // chunk):
            sent += chunk
            yield b"x" * chunk

    response = await client.post("/product", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": f"request body is larger than {MAX_BODY_BYTES} bytes"}
    assert sent <= MAX_BODY_BYTES + chunk  # the other 3 MiB were never read


async def test_body_just_under_the_limit_is_read(client: httpx.AsyncClient) -> None:
    # The limit is on the body, not on the product: this one gets past it and
    # is refused by the validation (name too long) instead.
    body = b'{"product_name": "' + b"x" * (MAX_BODY_BYTES - 100) + b'", "brand_id": 1}'
    response = await client.post("/product", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "product_name" in response.json()["error"]


async def test_a_database_that_refuses_raises_its_own_error_in_process(database_url: str) -> None:
    # Outside a server (a test, a script) the lifespan's error is the real exception.
    app = create_app(Settings(database_url=database_url.rsplit("/", 1)[0] + "/no_such_database"))
    with pytest.raises(DatabaseUnavailable, match="cannot use the database"):
        async with app.router.lifespan_context(app):
            pass


def test_declared_oversize_body_is_refused_before_it_is_sent(server: servers.RunningServer) -> None:
    """With Expect: 100-continue the client waits for a go-ahead: it gets 413 instead and uploads nothing."""
    head, body = expect_continue_upload(server.port, MAX_BODY_BYTES + 1)
    answer = head + body
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"100 Continue" not in answer
    assert b"request body is larger than" in body


def test_every_worker_answers_405_alike(server: servers.RunningServer) -> None:
    # Starlette builds Allow from a set, whose order differs between processes;
    # the error layer sorts it, so 8 workers give one answer.
    with httpx.Client(base_url=server.url) as http:
        allows = {http.delete("/brands", headers={"Connection": "close"}).headers["allow"] for _ in range(40)}
    assert allows == {"GET,HEAD"}


# gunicorn with one worker: when two workers fail to boot at the same moment,
# gunicorn's arbiter can raise its own HaltServer a second time while halting and
# print that traceback (exit code 1): a race in gunicorn, not in the app.
@pytest.mark.slow
@pytest.mark.parametrize(("name", "extra_args"), [("starlette", ""), ("starlette-gunicorn", "--workers 1")])
def test_a_database_that_refuses_is_one_clear_line_per_worker(name: str, extra_args: str, database_url: str) -> None:
    wrong = database_url.replace("postgres@", "postgres:secret@", 1).rsplit("/", 1)[0] + "/no_such_database"
    code, output = servers.run_to_exit(name, wrong, extra_args)  # it stops by itself: no respawning forever
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "cannot use the database" in line]
    assert errors, output
    assert all("postgresql://postgres:***@127.0.0.1" in line for line in errors)
    assert all('database "no_such_database" does not exist' in line for line in errors)
    assert "secret" not in output
    assert "startup failed" in output
    if name == "starlette-gunicorn":
        assert code == 3  # gunicorn: "Worker failed to boot"
    # uvicorn --workers 8 stops its workers and logs "Child process ... failed to
    # start", but its supervisor exits with 0 (a single uvicorn worker exits with 3).


@pytest.mark.parametrize(("count", "size", "status"), DEFAULT_HEADER_BOUNDS)
def test_header_fields_are_bounded_like_gunicorns(
    server: servers.RunningServer, count: int, size: int, status: int
) -> None:
    # uvicorn's httptools parser takes any number of header fields of any size:
    # the HeaderLimit guard (products_db/asgi_guards.py) answers 431 before any handler runs.
    check_header_bounds(server.port, count, size, status, MAX_REQUEST_HEADERS, MAX_HEADER_BYTES)


def test_header_bounds_are_settings(start_server) -> None:
    env = {"MAX_REQUEST_HEADERS": "20", "MAX_HEADER_BYTES": "1024"}
    with start_server("starlette-gunicorn", env=env) as tuned:
        for count, size, status in [(20, 100, 200), (21, 100, 431), (10, 1024, 200), (10, 1025, 431)]:
            check_header_bounds(tuned.port, count, size, status, 20, 1024)


def test_a_websocket_handshake_past_the_bounds_is_refused(server: servers.RunningServer) -> None:
    # 110 fields: past ours, within the websockets library's own (128 fields, 8 KB lines),
    # so the handshake reaches the app and the middleware answers it over HTTP.
    handshake = (
        b"GET /counter HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    )
    extra = b"".join(b"X-Header-%d: v\r\n" % i for i in range(110 - 5))
    line, body = raw_request(server.port, handshake + extra + b"\r\n")
    assert line.split(b" ")[1] == b"431", line + body[:300]
    assert json.loads(body) == {"error": f"request has more than {MAX_REQUEST_HEADERS} header fields"}
