"""Django-specific behaviour of the REST API on the async ORM (the shared contract is in tests/contract)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from products_db import servers
from products_db.rules import MAX_BODY_BYTES
from tests.conftest import expect_continue_upload, query

from .support import SERVER_ENV

BODY_LIMIT_MESSAGE = f"request body is larger than {MAX_BODY_BYTES} bytes"
OTHER_CONNECTIONS = """
    SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def load_body_limit() -> type:
    """async_api.body_limit by file: the Django project is not on our path (the module needs no Django)."""
    path = servers.REPO_ROOT / "django_async_views" / "async_api" / "body_limit.py"
    spec = importlib.util.spec_from_file_location("django_body_limit_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BodySizeLimit


@pytest.fixture(scope="module")
def server(start_server) -> Iterator[servers.RunningServer]:
    with start_server("django-asgi", env=SERVER_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: servers.RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_head_is_answered_like_get_without_a_body(api: httpx.Client) -> None:
    response = api.head("/brands")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b""


def test_unknown_paths_anywhere_are_json_404(api: httpx.Client) -> None:
    # handler404 in the project's urls.py, not Django's HTML page.
    for path in ("/requests/no-such-view", "/brands/", "/products/", "/products/1/2"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "not found"}


def test_a_host_not_allowed_is_json_400(api: httpx.Client) -> None:
    response = api.get("/brands", headers={"Host": "attacker.example"})
    assert response.status_code == 400
    assert response.json() == {"error": "bad request"}


def test_declared_oversize_body_is_refused_before_it_is_sent(server: servers.RunningServer) -> None:
    """Django would spool the whole body to a file first; the ASGI wrapper answers 413 before a byte is read."""
    head, body = expect_continue_upload(server.port, 50 * MAX_BODY_BYTES)
    answer = head + body
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"100 Continue" not in answer
    assert BODY_LIMIT_MESSAGE.encode() in body


def test_chunked_body_over_the_limit_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(2 * MAX_BODY_BYTES // 65536):
            yield b"x" * 65536

    response = api.post("/product", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": BODY_LIMIT_MESSAGE}


async def test_the_wrapper_stops_reading_a_chunked_body_at_the_limit() -> None:
    BodySizeLimit = load_body_limit()

    async def reads_everything(scope, receive, send) -> None:
        # What Django's ASGIHandler does: receive until the body ends or the client leaves.
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # Django sends nothing then
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    chunk = 64 * 1024
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(4 * MAX_BODY_BYTES // chunk):
            sent += chunk
            yield b"x" * chunk

    transport = httpx.ASGITransport(app=BodySizeLimit(reads_everything))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/product", content=chunks())
    assert response.status_code == 413
    assert response.json() == {"error": BODY_LIMIT_MESSAGE}
    assert sent <= MAX_BODY_BYTES + chunk


def test_database_connections_are_closed_after_each_request(api: httpx.Client, database_url: str) -> None:
    """CONN_MAX_AGE = 0: under ASGI a persistent connection per request thread would pile up."""
    baseline = query(database_url, OTHER_CONNECTIONS)[0]["n"]
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: api.get(f"/products/{i % 50 + 1}").status_code, range(200)))
    assert statuses == [200] * 200
    # Each connection closes when its request finishes, right after the response.
    deadline = time.monotonic() + 10
    while (now := query(database_url, OTHER_CONNECTIONS)[0]["n"]) > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now <= baseline
