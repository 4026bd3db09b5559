"""A request body size limit as a pure ASGI middleware: Starlette, unlike aiohttp, has none by default."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from products_db.http_limits import declared_length
from products_db.rules import MAX_BODY_BYTES, PayloadTooLarge


class BodySizeLimit:
    """Raise PayloadTooLarge (413 in errors.py) when a handler reads a body over max_bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope["headers"])
        received = 0

        # The body is not in the scope: it arrives later as http.request messages
        # that the handler pulls with receive(). Wrapping receive lets us stop a
        # large upload while it streams in, without buffering it first.
        async def limited_receive() -> Message:
            nonlocal received
            # An honest Content-Length is refused before a byte is read (uvicorn
            # then never sends "100 Continue", so the client need not upload it).
            if declared is not None and declared > self.max_bytes:
                raise PayloadTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                # A chunked body has no Content-Length: count what arrives.
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge()
            return message

        await self.app(scope, limited_receive, send)
