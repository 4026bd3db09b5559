"""The WebSocket user counter (listing 9.9) and the page that shows it (listing 9.10).

The book's class-level `sockets` list and `_send_count` become this process's client set, kept in the
lifespan state (counter_lifespan.py): adding or discarding a client is all the endpoint does, and the
set's one broadcast task sends the new count to everyone (counter_broadcast.py). Past the book, beside
it: the Origin check and message limit (counter_guard.py), the count shared by every worker
(counter_shared.py, COUNTER_MODE=postgres), the settings (counter_settings.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


class UserCounter(WebSocketEndpoint):
    """Tells every connected client how many clients are connected, on every connect and disconnect."""

    # The book sets encoding = "text"; then a binary message from a client makes Starlette raise,
    # which the server logs as an application error. We ignore whatever clients send, so accept any.
    encoding = None

    async def on_connect(self, websocket: WebSocket) -> None:
        if not await websocket.state.counter_guard.admit(websocket):
            return  # opened by another site's page: refused with 403 (counter_guard.py)
        await websocket.accept()
        try:
            await websocket.send_text(landed_on(websocket))  # past the book: which host and worker
        except WebSocketDisconnect:
            return  # gone already: nothing to count
        websocket.state.counter.add(websocket)  # the book: sockets.append(websocket); _send_count()

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        websocket.state.counter.discard(websocket)  # the book: sockets.remove(websocket); _send_count()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        # The book: pass. The page sends nothing, so a big message is not the page talking: that
        # client leaves the count, then is closed with 1009 (counter_guard.py).
        if websocket.state.counter_guard.too_big(data):
            websocket.state.counter.discard(websocket)
            await websocket.state.counter_guard.close_too_big(websocket)


def landed_on(websocket: WebSocket) -> str:
    """The first message: where this WebSocket landed, as JSON; every later message is the count.

    The host is the address the connection was accepted on (one per host, also behind a proxy), the
    worker is this process's pid: with several workers or hosts, a page shows which one serves it.
    """
    server = websocket.scope.get("server") or ("unknown", None)
    return json.dumps({"host": server[0], "worker": os.getpid()})


async def counter_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "counter.html")
