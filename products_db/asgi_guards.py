"""Three guards an ASGI app wears before its framework reads a request: header fields, body size, body time.

uvicorn (under Starlette and Django's ASGI command) parses with httptools, which bounds none of these:
it takes any number of header fields of any size, any body, and waits for body bytes without a deadline.
gunicorn's own parser bounds the header fields, aiohttp all three. Each guard is a pure ASGI wrapper, so
Starlette lists them as middleware and Django's asgi.py wraps its application in them: one copy, the same
answers (a JSON body like every other error of the API) whichever framework is inside.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .http_limits import HeaderFieldsTooLarge, HeaderLimits, declared_length
from .rules import MAX_BODY_BYTES, PayloadTooLarge
from .timeouts import BodyTimeout

# The ASGI shapes, as Starlette spells them (starlette.types), without importing a framework.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HeaderLimit:
    """431 to a request or WebSocket handshake past MAX_REQUEST_HEADERS fields or MAX_HEADER_BYTES in one.

    The server has read the whole header section by the time an ASGI app runs, so this cannot save that
    memory: it keeps such a request from the framework, which would copy every field (Django into META).
    """

    def __init__(self, app: ASGIApp, limits: HeaderLimits | None = None) -> None:
        self.app = app
        self.limits = limits or HeaderLimits.from_env()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            self.limits.check(scope["headers"])
        except HeaderFieldsTooLarge as error:
            if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008})  # the server answers the handshake 403
                return
            # Connection: close, as gunicorn does: the server reads no further request from this client.
            await send_json_error(scope, send, error.status, error.message, close=True)
            return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """413 for a body over max_bytes: a declared Content-Length before a byte is read, a chunked body as it passes.

    The body is not in the scope: it arrives later as http.request messages the app pulls with receive().
    Wrapping receive stops a large upload while it streams in, without buffering it first. Django's
    ASGIHandler reads every body whole before any view runs (DATA_UPLOAD_MAX_MEMORY_SIZE refuses it only
    once uploaded); Starlette reads it when a handler awaits request.body().
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not may_have_body(scope):
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope["headers"])
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            # An honest Content-Length is refused before a byte is read (uvicorn
            # then never sends "100 Continue", so the client need not upload it).
            if declared is not None and declared > self.max_bytes:
                raise PayloadTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))  # a chunked body has no Content-Length: count it
                if received > self.max_bytes:
                    raise PayloadTooLarge()
            return message

        await answer_what_escapes(self.app, scope, limited_receive, send, PayloadTooLarge)


class BodyDeadline:
    """408 when the body has not fully arrived `seconds` (BODY_TIMEOUT) after the headers.

    An app awaiting the body is a task parked on receive(): cheap, but a client that stalls mid-upload
    would keep it (and its connection) for as long as it likes. Each receive() of a body message gets
    only the time left before the deadline.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not may_have_body(scope):
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()  # after the body: waiting for a disconnect is not bounded here
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        # The rest of the body may still come: close the connection after the 408.
        await answer_what_escapes(self.app, scope, receive_in_time, send, BodyTimeout, close=True)


def may_have_body(scope: Scope) -> bool:
    """False for an HTTP/1 request that declares no body: the guards then let it pass without wrapping a thing.

    HTTP/1.1 frames a request body only with Content-Length or Transfer-Encoding (RFC 9112, section 6.3):
    with neither, or a length of 0, the server's first receive() returns the empty body at once, and no
    size or deadline can be passed. Most requests are such GETs, spared the wrappers' calls on every
    message. HTTP/2 and 3 frame a body without either header, so their requests always get the checks.
    """
    if scope.get("http_version") not in ("1.0", "1.1"):
        return True
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


async def answer_what_escapes(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    error_type: type[PayloadTooLarge | BodyTimeout],
    close: bool = False,
) -> None:
    """Run the app; if the guard's error comes out of it before an answer has started, answer it here.

    Starlette turns PayloadTooLarge into its 413 itself (an InvalidInput, in its errors.py); Django's
    ASGIHandler lets an error raised by receive() leave it, as it reads the body before any view runs.
    """
    started = False

    async def watched_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, watched_send)
    except error_type as error:
        if started:
            raise
        await send_json_error(scope, send, error.status, error.message, close=close)


async def send_json_error(scope: Scope, send: Send, status: int, message: str, close: bool = False) -> None:
    """{"error": message} with its status, as every error of the API; to a WebSocket handshake as its HTTP answer."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    prefix = "websocket." if scope["type"] == "websocket" else ""  # the websocket.http.response extension
    await send({"type": prefix + "http.response.start", "status": status, "headers": headers})
    await send({"type": prefix + "http.response.body", "body": body})
