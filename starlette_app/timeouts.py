"""A deadline for the request body as a pure ASGI middleware: uvicorn waits for body bytes without one."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from products_db.timeouts import BodyTimeout

from .errors import json_error


class BodyDeadline:
    """Answer 408 when the body has not fully arrived `seconds` after the headers.

    A handler awaiting `request.body()` is a task parked on receive(): cheap, but a client
    that stalls mid-upload would keep it (and its connection) for as long as it likes.
    Each receive() of a body message gets only the time left before the deadline.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False
        started = False

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

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_in_time, watched_send)
        except BodyTimeout as error:
            if started:
                raise
            # The rest of the body may still come: close the connection after this answer.
            await json_error(error.status, error.message, {"Connection": "close"})(scope, receive, send)
