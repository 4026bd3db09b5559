"""The pure-ASGI guards Starlette and Django share, in-process around small apps shaped like each framework.

Over HTTP they are tested under both apps' commands: tests/starlette_app/test_rest.py and
tests/django_async_views/test_rest.py (header and body limits), tests/test_slow_clients.py (the deadline).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from products_db.asgi_guards import BodyDeadline, BodySizeLimit, HeaderLimit, Message, Receive, Scope, Send
from products_db.http_limits import HeaderLimits
from products_db.rules import MAX_BODY_BYTES, PayloadTooLarge
from products_db.timeouts import BodyTimeout

BODY_LIMIT = {"error": f"request body is larger than {MAX_BODY_BYTES} bytes"}
CHUNK = 64 * 1024


async def reads_everything(scope: Scope, receive: Receive, send: Send) -> None:
    """What Django's ASGIHandler does: receive the whole body before any view runs, letting errors out."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # Django sends nothing then
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read it all"})


async def answers_its_own_413(scope: Scope, receive: Receive, send: Send) -> None:
    """What Starlette does: a handler's PayloadTooLarge becomes its own answer (errors.py), a 413 marked as such."""
    try:
        await reads_everything(scope, receive, send)
    except PayloadTooLarge:
        await send({"type": "http.response.start", "status": 413, "headers": [(b"x-answered-by", b"app")]})
        await send({"type": "http.response.body", "body": b"{}"})


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_chunked_body_is_refused_once_past_the_limit_and_read_no_further() -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(4 * MAX_BODY_BYTES // CHUNK):
            sent += CHUNK
            yield b"x" * CHUNK

    async with client(BodySizeLimit(reads_everything)) as http:
        response = await http.post("/product", content=chunks())
    assert response.status_code == 413
    assert response.json() == BODY_LIMIT
    assert sent <= MAX_BODY_BYTES + CHUNK


async def test_a_declared_length_over_the_limit_is_refused_before_the_first_receive() -> None:
    received = []

    async def receive() -> Message:
        received.append(1)
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", str(MAX_BODY_BYTES + 1).encode())]}
    await BodySizeLimit(reads_everything)(scope, receive, send)
    assert received == []  # uvicorn sends "100 Continue" on the first receive(): none, no upload
    assert sent[0]["status"] == 413


async def test_a_body_up_to_the_limit_is_passed_on_whole() -> None:
    async with client(BodySizeLimit(reads_everything)) as http:
        response = await http.post("/product", content=b"x" * MAX_BODY_BYTES)
    assert (response.status_code, response.content) == (200, b"read it all")


async def test_an_app_that_answers_the_413_itself_keeps_its_answer() -> None:
    async with client(BodySizeLimit(answers_its_own_413)) as http:
        response = await http.post("/product", content=b"x" * (MAX_BODY_BYTES + 1))
    assert (response.status_code, response.headers["x-answered-by"]) == (413, "app")


async def stalled_upload(app, seconds: float, scope: Scope | None = None) -> list[Message]:
    """One body message saying more is coming, then nothing: what the app sends back."""
    messages = [{"type": "http.request", "body": b'{"product_name": "', "more_body": True}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stalls
        raise AssertionError("unreachable")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = scope or {"type": "http", "headers": []}
    await asyncio.wait_for(BodyDeadline(app, seconds)(scope, receive, send), 30)
    return sent


async def test_a_stalled_body_is_answered_408_and_the_connection_closed() -> None:
    start, body = await stalled_upload(reads_everything, seconds=0.05)
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert body["body"] == b'{"error": "%s"}' % BodyTimeout(0.05).message.encode()


# Each way a request frames a body: HTTP/1.1 by Content-Length or chunked, HTTP/2 by neither.
BODY_FRAMINGS = {
    "content-length": {"http_version": "1.1", "headers": [(b"content-length", b"100")]},
    "chunked": {"http_version": "1.1", "headers": [(b"transfer-encoding", b"chunked")]},
    "http/2": {"http_version": "2", "headers": []},
}


@pytest.mark.parametrize("framing", BODY_FRAMINGS)
async def test_every_way_of_sending_a_body_is_bounded(framing: str) -> None:
    start, _ = await stalled_upload(reads_everything, 0.05, {"type": "http", **BODY_FRAMINGS[framing]})
    assert start["status"] == 408


async def test_a_request_without_a_body_reaches_the_app_with_the_servers_own_receive_and_send() -> None:
    """An HTTP/1 request with no Content-Length (or 0) and no Transfer-Encoding has no body to bound: not wrapped."""
    reached = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append((receive, send))

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    for length in ([], [(b"content-length", b"0")]):
        scope = {"type": "http", "http_version": "1.1", "headers": [(b"host", b"test"), *length]}
        for guard in (BodySizeLimit(app), BodyDeadline(app, 0.01)):
            await guard(scope, receive, send)
    assert reached == [(receive, send)] * 4


async def test_a_deadline_after_the_answer_has_started_is_not_answered_twice() -> None:
    async def answers_then_reads(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await receive()
        await receive()

    with pytest.raises(BodyTimeout):
        await stalled_upload(answers_then_reads, seconds=0.05)


def fields(count: int) -> list[tuple[bytes, bytes]]:
    return [(b"x-%d" % i, b"v") for i in range(count)]


async def guarded_handshake(count: int, extensions: dict) -> list[Message]:
    sent: list[Message] = []
    reached = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope)

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "headers": fields(count), "extensions": extensions}
    await HeaderLimit(app, HeaderLimits(max_fields=3))(scope, receive, send)
    assert reached == ([scope] if count <= 3 else [])
    return sent


async def test_header_fields_past_the_bound_are_431_json_and_close() -> None:
    async with client(HeaderLimit(reads_everything, HeaderLimits(max_fields=12))) as http:
        ok = await http.get("/brands", headers=dict(fields(5)))
        refused = await http.get("/brands", headers=dict(fields(20)))
    assert ok.status_code == 200
    assert refused.status_code == 431
    assert refused.json() == {"error": "request has more than 12 header fields"}
    assert refused.headers["connection"] == "close"


async def test_a_websocket_handshake_past_the_bound_is_refused_over_http_or_closed() -> None:
    assert await guarded_handshake(3, {"websocket.http.response": {}}) == []
    start, body = await guarded_handshake(4, {"websocket.http.response": {}})
    assert (start["type"], start["status"]) == ("websocket.http.response.start", 431)
    assert body == {
        "type": "websocket.http.response.body",
        "body": b'{"error": "request has more than 3 header fields"}',
    }
    # A server without the extension can only refuse the handshake (it answers 403 itself).
    assert await guarded_handshake(4, {}) == [{"type": "websocket.close", "code": 1008}]


async def test_other_scopes_pass_untouched() -> None:
    seen = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def nothing() -> Message:
        return {}

    async def ignore(message: Message) -> None:
        pass

    lifespan = {"type": "lifespan", "headers": fields(50)}
    for guard in (HeaderLimit(app, HeaderLimits(max_fields=1)), BodySizeLimit(app), BodyDeadline(app, 0.01)):
        await guard(lifespan, nothing, ignore)
    assert seen == ["lifespan"] * 3
