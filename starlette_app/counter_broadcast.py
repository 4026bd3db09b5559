"""Telling this process's WebSocket clients the latest count: concurrent, bounded sends (listing 9.9's _send_count)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette import status
from starlette.websockets import WebSocket

logger = logging.getLogger(__name__)


class Clients:
    """The WebSocket clients connected to this process, and one task that sends them the latest count.

    The book starts a fresh set of send tasks on every connect and disconnect. Under a burst of
    connects those broadcasts overlap: a client could receive "3" after "4", and 1000 connects cost
    a million sends. Here a single task (run) does the sending, one round at a time: publish() only
    records the newest text and wakes it. Changes that arrive during a round are coalesced into the
    next round, so every client always ends on the latest value, in order.
    """

    def __init__(self, send_timeout: float, on_change: Callable[[], None] = lambda: None) -> None:
        self.send_timeout = send_timeout
        self.on_change = on_change  # called whenever the set of clients changes: the CountSource (counter_lifespan.py)
        self._last_sent: dict[WebSocket, str | None] = {}
        self._latest: str | None = None
        self._wake = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def count(self) -> int:
        return len(self._last_sent)

    def add(self, websocket: WebSocket) -> None:
        # Not sent anything yet: the next publish() reaches it even if the value is unchanged,
        # and on_change makes sure there is a next publish, one that already counts this client.
        self._last_sent[websocket] = None
        self.on_change()

    def discard(self, websocket: WebSocket) -> None:
        if websocket in self._last_sent:  # a dropped client is already gone
            del self._last_sent[websocket]
            self.on_change()

    def publish(self, text: str) -> None:
        self._latest = text
        self._wake.set()

    async def run(self) -> None:
        """Send rounds until cancelled (the lifespan owns this task)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._latest is not None:
                await self._send_round(self._latest)

    async def _send_round(self, text: str) -> None:
        # Only clients that have not seen this value yet: a new client, or everyone after a change.
        targets = [ws for ws, last in self._last_sent.items() if last != text]
        if not targets:
            return
        # All sends run at once, each bounded by its own timeout, so one slow or dead client costs
        # the round at most send_timeout and never delays the sends to the others.
        results = await asyncio.gather(*(self._send(ws, text) for ws in targets))
        dropped = []
        for websocket, delivered in zip(targets, results, strict=True):
            if websocket not in self._last_sent:
                continue  # it disconnected while we were sending
            if delivered:
                self._last_sent[websocket] = text
            else:
                del self._last_sent[websocket]
                dropped.append(websocket)
        if dropped:
            logger.warning("dropped %d WebSocket client(s) whose send failed or timed out", len(dropped))
            for websocket in dropped:
                # Closing can hang on a client that does not read, too: do it aside, bounded.
                task = asyncio.create_task(self._close(websocket))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            self.on_change()

    async def _send(self, websocket: WebSocket, text: str) -> bool:
        try:
            async with asyncio.timeout(self.send_timeout):
                await websocket.send_text(text)
        # Whatever a send raises (timeout, peer gone, socket already closed) means the same thing
        # for a broadcast: this client cannot be told, so it is dropped. Cancellation still propagates.
        except Exception:
            return False
        return True

    async def _close(self, websocket: WebSocket) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await websocket.close(status.WS_1008_POLICY_VIOLATION, "too slow to receive the count")
        except Exception:
            pass  # uvicorn's ping timeout reaps a connection that cannot even be closed

    async def aclose(self) -> None:
        for task in self._closing:
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)


def log_crash(task: asyncio.Task[None]) -> None:
    """Done-callback for a background task: a crash is reported when it happens, not at shutdown."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("counter task %s crashed", task.get_name(), exc_info=task.exception())
