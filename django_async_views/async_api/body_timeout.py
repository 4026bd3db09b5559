"""A deadline for the request body, as an ASGI wrapper around Django: uvicorn waits for body bytes without one."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from products_db.timeouts import BodyTimeout, body_timeout_json

from .body_limit import ASGIApp, Message, Receive, Send


class BodyDeadline:
    """Answer 408 when the body has not fully arrived `seconds` after the headers.

    Django's ASGIHandler reads the whole body before any view runs; a client that stalls
    mid-upload would keep that read (and its connection) waiting for as long as it likes.
    Each receive() of a body message gets only the time left before the deadline.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_done = False
        timed_out = False

        async def receive_in_time() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()  # Django then listens for a disconnect: not bounded here
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                # Django takes a disconnect while reading the body as "client gone": it
                # stops reading and answers nothing, so we answer.
                return {"type": "http.disconnect"}
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_in_time, send)
        if timed_out:
            await request_timeout(send, self.seconds)


async def request_timeout(send: Send, seconds: float) -> None:
    body = body_timeout_json(seconds)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))  # the rest of the body may still come: do not wait for it
    await send({"type": "http.response.start", "status": BodyTimeout.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
