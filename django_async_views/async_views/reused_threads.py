"""Django's ASGI handler with one change: a request's synchronous work runs on one of a fixed set of threads."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class ReusedThreadsASGIHandler(ASGIHandler):
    """Run each request's thread-sensitive calls on a thread of its own, taken from `threads` long-lived ones.

    Under ASGI, Django runs a request's synchronous parts (every ORM query, the
    request_started and request_finished signals) with sync_to_async, on one
    thread reserved for that request. Django starts a new thread for each request
    and joins it at the end: on two cores that costs more than the query itself.
    asgiref lets the caller hand in the executor (ThreadSensitiveContext(executor=...)),
    so here a finished request's thread serves the next one. With as many threads
    as the pool has connections, a request that finds them all busy waits in the
    event loop, where waiting is cheap, not in a thread blocked on the pool.
    """

    def __init__(self, threads: int) -> None:
        super().__init__()
        self._free: asyncio.Queue[ThreadPoolExecutor] = asyncio.Queue()
        for _ in range(threads):
            # One thread per executor keeps a request's calls in order; it starts on first use.
            self._free.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix="request"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan and websocket: Django's own answer
            await super().__call__(scope, receive, send)
            return
        executor = await self._free.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._free.put_nowait(executor)
