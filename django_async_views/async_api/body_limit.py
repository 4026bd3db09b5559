"""Refuse request bodies over 1 MiB before Django reads them: its ASGI handler reads every body whole first."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from products_db.http_limits import declared_length
from products_db.rules import MAX_BODY_BYTES, PayloadTooLarge

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """An ASGI wrapper around Django's application (asgi.py).

    Django's ASGIHandler receives the whole body into a temporary file (on disk past
    2.5 MB) before any view runs, so DATA_UPLOAD_MAX_MEMORY_SIZE only refuses a big
    body after it has been uploaded. This refuses it at the door instead: at once
    for a Content-Length over the limit, and as soon as a chunked body passes it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope["headers"])
        if declared is not None and declared > self.max_bytes:
            # Nothing read: the server never sends "100 Continue", the client uploads nothing.
            await payload_too_large(send)
            return
        received = 0
        cut = False

        async def limited_receive() -> Message:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request" and not cut:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    cut = True
                    # Django takes a disconnect while reading the body as "client
                    # gone": it stops reading and sends nothing, so we answer.
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)
        if cut:
            await payload_too_large(send)


async def payload_too_large(send: Send) -> None:
    await send_json_error(send, 413, PayloadTooLarge().message)


async def send_json_error(send: Send, status: int, message: str, close: bool = False) -> None:
    """Answer without Django: the same body its JsonResponse would write (errors.json_error)."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))  # the server reads no further request on this connection
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
