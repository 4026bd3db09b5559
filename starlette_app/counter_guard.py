"""What the /counter route adds around the book's endpoint (routes.py): two limits, and the first message.

Which pages may open the WebSocket, how big a client's message may be (CounterGuard), and where the
WebSocket landed (LandedOn). Both are ASGI layers on the route: counter.py knows nothing of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette import status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket


@dataclass(frozen=True)
class WebSocketGuard:
    """The limits CounterGuard applies, read once from COUNTER_* (counter_settings.py) into the lifespan state."""

    allowed_origins: Collection[str]  # COUNTER_ALLOWED_ORIGINS: other sites' pages that may connect
    max_message: int  # COUNTER_MAX_MESSAGE: bytes; clients have nothing to say, so this is small

    async def admit(self, websocket: WebSocket) -> bool:
        """Refuse at the handshake, with 403 and a JSON body, a WebSocket opened by another site's page.

        Cross-Site WebSocket Hijacking: the same-origin policy and CORS do not cover WebSockets, so
        any page, on any site, may open one to this server, and the browser sends this site's cookies
        along. What the browser always adds, and a page cannot forge, is the Origin of that page: it
        must be the site the counter page came from (the Host the browser asked for) or one that
        COUNTER_ALLOWED_ORIGINS names. No Origin at all means no browser (the tests,
        bench/counter_load.py, curl); such a client could send any Origin it likes, so refusing it
        would protect nobody.
        """
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host", "")
        if origin is None or same_origin(origin, host) or origin.lower().rstrip("/") in self.allowed_origins:
            return True
        error = f"this WebSocket may only be opened by pages of {host or 'this site'}, not by {origin}"
        # An HTTP answer instead of the upgrade (ASGI's WebSocket Denial Response). uvicorn 0.54's default
        # WebSocket protocol then also logs "ASGI callable returned without completing handshake": a
        # false alarm of its own (the 403 did go out), see the pull request Kludex/uvicorn#3138.
        await websocket.send_denial_response(JSONResponse({"error": error}, status_code=status.HTTP_403_FORBIDDEN))
        return False

    def too_big(self, data: str | bytes | None) -> bool:
        """Is this message from a client over max_message bytes?"""
        data = data or b""
        # A str of more characters than the limit has more bytes too: no need to encode it to know.
        if isinstance(data, str) and len(data) <= self.max_message:
            data = data.encode()
        return len(data) > self.max_message


class CounterGuard:
    """The /counter route's guard (routes.py), around the book's endpoint, which never sees it.

    At the handshake, a page of another site is refused with 403 (WebSocketGuard.admit). Then a
    message over max_message bytes closes its client with 1009 (message too big): uvicorn has already
    read it (up to its --ws-max-size, 16 MiB by default), but a client that sends something this big is
    not the counter page, and closing it stops it making the server read 16 MiB again and again. The
    endpoint is told the client left, so it leaves the count as on any disconnect.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guard: WebSocketGuard = scope["state"]["counter_guard"]  # from the lifespan (app.py)
        if not await guard.admit(WebSocket(scope, receive, send)):
            return
        closed = False

        async def receive_bounded() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and guard.too_big(message.get("bytes") or message.get("text")):
                closed = True
                reason = f"messages are limited to {guard.max_message} bytes"
                await send({"type": "websocket.close", "code": status.WS_1009_MESSAGE_TOO_BIG, "reason": reason})
                return {"type": "websocket.disconnect", "code": status.WS_1009_MESSAGE_TOO_BIG}
            return message

        async def send_unless_closed(message: Message) -> None:
            if not closed:  # the broadcast may still send to it until the endpoint has seen it leave
                await send(message)

        await self.app(scope, receive_bounded, send_unless_closed)


class LandedOn:
    """The /counter route's first message (routes.py): where this WebSocket landed, as JSON.

    The host is the address the connection was accepted on (one per host, also behind a proxy), the
    worker is this process's pid: with several workers or hosts, the page shows which one serves it.
    Every later message is the count, as in the book.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") or ("unknown", None)
        landed = json.dumps({"host": server[0], "worker": os.getpid()})

        async def send_landed_first(message: Message) -> None:
            await send(message)
            if message["type"] == "websocket.accept":
                try:
                    await send({"type": "websocket.send", "text": landed})
                except OSError:
                    pass  # gone already: the endpoint's next receive says so

        await self.app(scope, receive, send_landed_first)


def same_origin(origin: str, host: str) -> bool:
    """Is the page at `origin` (scheme://host[:port]) from the host and port the browser sent this request to?"""
    parts = urlsplit(origin.lower())
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host.lower()


def parse_origins(value: str) -> frozenset[str]:
    """COUNTER_ALLOWED_ORIGINS: origins as a browser sends them, "https://example.com:8443", separated by commas."""
    origins = set()
    for item in value.replace(",", " ").split():
        origin = item.lower().rstrip("/")
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError(f"COUNTER_ALLOWED_ORIGINS: {item!r} is not an origin like https://example.com:8443")
        origins.add(origin)
    return frozenset(origins)
