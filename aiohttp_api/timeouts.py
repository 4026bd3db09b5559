"""A deadline for the request body: a client that stalls mid-upload gets a 408 instead of holding its request open."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from products_db.timeouts import BodyTimeout

from .errors import json_error


def body_deadline(seconds: float) -> Middleware:
    """Read the whole body within `seconds` of the headers, before the handler runs.

    aiohttp waits for body bytes without a limit: a task parked on `await request.read()`
    costs little, but a client can park as many as it likes, for as long as it likes.
    The body read here is kept by aiohttp, so the handler's own read() returns it at once.
    """

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # past client_max_size: 413, answered by errors.py
            except TimeoutError:
                timed_out = BodyTimeout(seconds)
                response = json_error(timed_out.status, timed_out.message, {"Connection": "close"})
                # After an answer, aiohttp reads and drops the rest of an unread body for up to
                # 10 s (lingering_time) before it closes, so that a client still sending can read
                # the answer. This client has stopped sending: send the 408, then close at once.
                await response.prepare(request)
                await response.write_eof()
                request.protocol.force_close()  # the 408 written is still flushed before the socket closes
                return response
        return await handler(request)

    return read_body_in_time
