"""Django-specific behaviour of the REST API on the async ORM (the shared contract is in tests/contract)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devenv import servers
from products_db.http_limits import MAX_HEADER_BYTES, MAX_REQUEST_HEADERS
from products_db.rules import MAX_BODY_BYTES
from tests.conftest import DEFAULT_HEADER_BOUNDS, check_header_bounds, expect_continue_upload, query

from .support import SERVER_ENV

BODY_LIMIT_MESSAGE = f"request body is larger than {MAX_BODY_BYTES} bytes"
OTHER_CONNECTIONS = """
    SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


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
    """Django would spool the whole body to a file first; the BodySizeLimit guard answers 413 before a byte is read."""
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


def test_connections_are_pooled_and_bounded_under_load(start_server, database_url: str) -> None:
    """Django's pool: a process holds at most DB_POOL_SIZE connections however many requests come; the rest wait."""
    app_name = "django pool bound test"
    url = f"{database_url}?application_name={app_name.replace(' ', '%20')}"
    count = f"SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '{app_name}'"
    env = {**SERVER_ENV, "DB_POOL_SIZE": "3"}
    with start_server("django-asgi", env=env, database_url=url) as running:  # one worker process
        with httpx.Client(base_url=running.url, timeout=30) as client, ThreadPoolExecutor(max_workers=50) as pool:
            loads = [pool.submit(lambda i=i: client.get(f"/products/{i % 50 + 1}").status_code) for i in range(300)]
            seen = []
            while not all(load.done() for load in loads):
                seen.append(query(database_url, count)[0]["n"])
            statuses = [load.result() for load in loads]
        assert statuses == [200] * 300
        assert max(seen) <= 3, seen
        # The pool keeps its connections for the next requests instead of closing them.
        assert query(database_url, count)[0]["n"] == 3


@pytest.mark.parametrize("path", ["/brands", "/products/abc"])
def test_security_headers_are_set_on_every_answer(api: httpx.Client, path: str) -> None:
    """Django's own security and clickjacking middleware run: their headers are there."""
    headers = api.get(path).headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize(("count", "size", "status"), DEFAULT_HEADER_BOUNDS)
def test_header_fields_are_bounded_like_gunicorns(
    server: servers.RunningServer, count: int, size: int, status: int
) -> None:
    # Under UvicornWorker, httptools parses the request and bounds nothing; the
    # HeaderLimit guard (products_db/asgi_guards.py) answers 431 before Django.
    check_header_bounds(server.port, count, size, status, MAX_REQUEST_HEADERS, MAX_HEADER_BYTES)


def test_header_bounds_are_settings(start_server) -> None:
    env = {**SERVER_ENV, "MAX_REQUEST_HEADERS": "20", "MAX_HEADER_BYTES": "1024"}
    with start_server("django-asgi", env=env) as tuned:
        for count, size, status in [(20, 100, 200), (21, 100, 431), (10, 1024, 200), (10, 1025, 431)]:
            check_header_bounds(tuned.port, count, size, status, 20, 1024)


def test_a_bad_header_bound_stops_the_server_with_one_line(database_url: str) -> None:
    env = {**SERVER_ENV, "MAX_HEADER_BYTES": "lots"}
    code, output = servers.run_to_exit("django-asgi", database_url, env=env)
    assert code == 3, output
    assert "MAX_HEADER_BYTES must be a positive integer, got 'lots'" in output
    assert "Traceback" not in output
