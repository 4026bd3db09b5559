"""The WebSocket user counter (listing 9.9) and the page that shows it (listing 9.10), counted in memory.

As in the book: a set of this process's sockets, and the count sent to every one of them on each
connect and disconnect. Everything past the book sits beside it, in modules this one never imports:
the Origin check, the message limit and the first "landed on" message wrap the route (counter_guard.py,
routes.py); the count shared by every worker and host replaces `on_change` (counter_shared.py,
COUNTER_MODE=postgres); the lifespan opens one Counter per process (counter_settings.open_counter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette import status
from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.websockets import WebSocket

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
logger = logging.getLogger(__name__)


class UserCounter(WebSocketEndpoint):
    """The book's endpoint: a client is counted from its connect to its disconnect."""

    # The book's encoding = "text" turns a binary message into a server error; any message is ignored here.
    encoding = None

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        websocket.state.counter.add(websocket)

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        websocket.state.counter.discard(websocket)

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        pass


class Counter:
    """The book's `sockets` and `_send_count`: this process's clients, told the count by one task, in rounds.

    Changes made during a round merge into the next: a burst of connects costs about one message per client,
    and nobody sees "3" after "4" (the book's overlapping sends could deliver them so)."""

    def __init__(self, send_timeout: float = 1.0) -> None:
        self.send_timeout = send_timeout  # a client that takes longer to accept a send is dropped
        self.sockets: dict[WebSocket, str | None] = {}  # each client, and the last text it was sent
        self.latest = ""
        self.wake = asyncio.Event()
        self.closing: set[asyncio.Task[None]] = set()
        # Called on every connect, disconnect and drop. The book's count: the sockets this process holds.
        self.on_change: Callable[[], None] = lambda: self.publish(str(len(self.sockets)))

    def add(self, websocket: WebSocket) -> None:
        self.sockets[websocket] = None  # sent nothing yet: the next round reaches it even if the text is unchanged
        self.on_change()

    def discard(self, websocket: WebSocket) -> None:
        if websocket in self.sockets:  # a dropped client has left already
            del self.sockets[websocket]
            self.on_change()

    def publish(self, text: str) -> None:
        self.latest = text
        self.wake.set()

    async def send_rounds(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            text = self.latest
            targets = [websocket for websocket, seen in self.sockets.items() if seen != text]
            if not targets:
                continue
            # The book's asyncio.wait over one send each: all at once, so a client that does not read
            # holds up nobody; after send_timeout its send is cancelled and it is dropped, as is a failed one.
            sends = {asyncio.create_task(websocket.send_text(text)): websocket for websocket in targets}
            started = asyncio.get_running_loop().time()
            done, pending = await asyncio.wait(sends, timeout=self.send_timeout)
            for send in pending:
                send.cancel()
            for send, websocket in sends.items():
                if send in done and send.exception() is None:
                    if websocket in self.sockets:  # it did not leave during the round
                        self.sockets[websocket] = text
                elif websocket in self.sockets:
                    self.drop(websocket)
            # A round costs a send per client: rest as long as it took, so that a burst of connects lands
            # between rounds and merges into the next, instead of a round of 10,000 sends after each connect.
            await asyncio.sleep(asyncio.get_running_loop().time() - started)

    def drop(self, websocket: WebSocket) -> None:
        del self.sockets[websocket]
        logger.warning("dropped a WebSocket client whose send failed or timed out")
        # Closing can hang too, on a client that does not read: aside, bounded by the same timeout.
        close = websocket.close(status.WS_1008_POLICY_VIOLATION, "too slow to receive the count")
        task = asyncio.create_task(asyncio.wait_for(close, self.send_timeout))
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)
        task.add_done_callback(lambda task: task.cancelled() or task.exception())  # it may fail: it is gone anyway
        self.on_change()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Counter]:
        """The broadcast task, for as long as the app runs (the lifespan holds this open)."""
        sender = asyncio.create_task(self.send_rounds(), name="counter-broadcast")
        sender.add_done_callback(log_crash)
        try:
            yield self
        finally:
            for task in (sender, *self.closing):
                task.cancel()
            await asyncio.gather(sender, *self.closing, return_exceptions=True)


def log_crash(task: asyncio.Task[None]) -> None:
    """Done-callback for a background task: a crash is reported when it happens, not at shutdown."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("counter task %s crashed", task.get_name(), exc_info=task.exception())


async def counter_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "counter.html")
