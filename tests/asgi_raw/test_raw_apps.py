"""The bare WSGI and ASGI apps answer with their documented bodies and headers under each server that runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client

from asgi_raw import asgi_app, wsgi_app
from devenv import servers
from tests.conftest import commands

# server command -> the body its app sends. No database: these are the benchmark's ceiling.
EXPECTED = {
    "raw-wsgi": b"WSGI hello!",  # gunicorn, sync worker (listing 9.6)
    "raw-asgi": b"ASGI hello!",  # uvicorn (listing 9.7)
    "raw-asgi-gunicorn": b"ASGI hello!",  # gunicorn managing uvicorn workers
}


@pytest.fixture(scope="module", params=commands(*EXPECTED))
def raw_server(request: pytest.FixtureRequest) -> Iterator[servers.RunningServer]:
    with servers.run(request.param) as server:
        yield server


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/brands", "/any/path?x=1"])
def test_every_request_gets_the_hello(raw_server: servers.RunningServer, method: str, path: str) -> None:
    response = httpx.request(method, raw_server.url + path, content=b"ignored" if method == "POST" else None)
    body = EXPECTED[raw_server.command.name]
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in response.headers  # the app's Content-Length is used, not chunks


def test_head_has_headers_and_no_body(raw_server: servers.RunningServer) -> None:
    response = httpx.head(raw_server.url + "/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(EXPECTED[raw_server.command.name]))


@pytest.mark.listing("9.7")
def test_asgi_app_refuses_websockets_politely() -> None:
    # The app receives the websocket scope and closes it before accepting:
    # uvicorn turns that into an HTTP 403 for the handshake.
    with servers.run("raw-asgi") as server:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            websockets.sync.client.connect(f"ws://127.0.0.1:{server.port}/", open_timeout=10)
        assert refused.value.response.status_code == 403
        assert httpx.get(server.url).content == b"ASGI hello!"  # still serving


@pytest.mark.parametrize("name", commands("raw-asgi", "raw-asgi-gunicorn"))
def test_asgi_app_completes_the_lifespan(name: str) -> None:
    with servers.run(name) as server:
        pass
    log = server.log()
    assert "Application startup complete." in log
    assert "Application shutdown complete." in log
    assert "lifespan" not in log.lower()  # no "ASGI 'lifespan' protocol appears unsupported"


# --- in process: the two interfaces side by side -------------------------------------------


@pytest.mark.listing("9.6")
def test_wsgi_is_a_function_that_returns_the_body() -> None:
    started = []
    body = wsgi_app.application({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda s, h: started.append((s, h)))
    assert b"".join(body) == b"WSGI hello!"
    assert started == [("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "11")])]


def run_asgi(scope: dict, incoming: list[dict]) -> list[dict]:
    """Drive the ASGI app as a server would: feed it events, collect the events it sends."""
    sent: list[dict] = []
    queue = list(incoming)

    async def receive() -> dict:
        return queue.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    result = asyncio.run(asgi_app.application(scope, receive, send))
    assert result is None  # the answer is in the events, nothing is returned
    return sent


@pytest.mark.listing("9.7")
def test_asgi_is_a_coroutine_that_sends_events() -> None:
    sent = run_asgi({"type": "http", "method": "GET", "path": "/"}, [{"type": "http.request", "body": b""}])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-type"] == b"text/plain; charset=utf-8"
    assert sent[1]["body"] == b"ASGI hello!"


@pytest.mark.listing("9.7")
def test_asgi_lifespan_events() -> None:
    sent = run_asgi({"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


@pytest.mark.listing("9.7")
def test_asgi_closes_a_websocket_before_accepting() -> None:
    sent = run_asgi({"type": "websocket", "path": "/"}, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1000}]


@pytest.mark.listing("9.7")
def test_asgi_raises_on_an_unknown_scope_type() -> None:
    with pytest.raises(NotImplementedError, match="webtransport"):
        run_asgi({"type": "webtransport"}, [])
