"""The WebSocket user counter (listing 9.9) and the page that shows it (listing 9.10)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from .counter_broadcast import Clients, log_crash
from .counter_guard import WebSocketGuard, parse_origins
from .counter_shared import shared_count

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MODES = ("memory", "postgres")


@dataclass(frozen=True)
class CounterSettings:
    """COUNTER_MODE picks where the count lives; the rest tune the shared mode and the broadcast."""

    # memory: each process counts its own clients, as in the book; right with one worker only.
    # postgres: every worker and host shares one exact count through the database.
    mode: Literal["memory", "postgres"] = "memory"
    heartbeat: float = 1.0  # COUNTER_HEARTBEAT: seconds between a worker's liveness updates
    expiry: float = 5.0  # COUNTER_EXPIRY: a worker silent this long no longer counts
    send_timeout: float = 1.0  # COUNTER_SEND_TIMEOUT: a client that takes longer to accept a send is dropped
    retry_max: float = 2.0  # COUNTER_RETRY_MAX: longest wait between two attempts to reach the database
    max_message: int = 1024  # COUNTER_MAX_MESSAGE: bytes; a bigger message from a client closes it (1009)
    allowed_origins: frozenset[str] = frozenset()  # COUNTER_ALLOWED_ORIGINS: other sites whose pages may connect

    @classmethod
    def from_env(cls) -> CounterSettings:
        mode = os.environ.get("COUNTER_MODE", "memory")
        if mode not in MODES:
            raise ValueError(f"COUNTER_MODE must be one of {', '.join(MODES)}, got {mode!r}")
        settings = cls(
            mode=mode,  # type: ignore[arg-type]
            heartbeat=float(os.environ.get("COUNTER_HEARTBEAT", cls.heartbeat)),
            expiry=float(os.environ.get("COUNTER_EXPIRY", cls.expiry)),
            send_timeout=float(os.environ.get("COUNTER_SEND_TIMEOUT", cls.send_timeout)),
            retry_max=float(os.environ.get("COUNTER_RETRY_MAX", cls.retry_max)),
            max_message=int(os.environ.get("COUNTER_MAX_MESSAGE", cls.max_message)),
            allowed_origins=parse_origins(os.environ.get("COUNTER_ALLOWED_ORIGINS", "")),
        )
        if not 0 < settings.heartbeat < settings.expiry:
            raise ValueError("COUNTER_HEARTBEAT must be positive and shorter than COUNTER_EXPIRY")
        if settings.send_timeout <= 0:
            raise ValueError("COUNTER_SEND_TIMEOUT must be positive")
        if settings.retry_max <= 0:
            raise ValueError("COUNTER_RETRY_MAX must be positive")
        if settings.max_message < 0:
            raise ValueError("COUNTER_MAX_MESSAGE must be zero or more")
        return settings

    @property
    def guard(self) -> WebSocketGuard:
        return WebSocketGuard(self.allowed_origins, self.max_message)


@asynccontextmanager
async def open_counter(settings: CounterSettings, pool: asyncpg.Pool, database_url: str) -> AsyncIterator[Clients]:
    """The lifespan's counter: this process's clients, plus the shared count in postgres mode."""
    clients = Clients(settings.send_timeout)
    if settings.mode == "memory":
        # The book's version: the count is simply how many clients this process holds.
        clients.on_change = lambda: clients.publish(str(clients.count))
    sender = asyncio.create_task(clients.run(), name="counter-broadcast")
    sender.add_done_callback(log_crash)
    try:
        if settings.mode == "postgres":
            async with shared_count(
                clients, pool, database_url, settings.heartbeat, settings.expiry, settings.retry_max
            ):
                yield clients
        else:
            yield clients
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await clients.aclose()


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
        websocket.state.counter.add(websocket)

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        # What a client sends means nothing here, but a big message is not the page talking: that
        # client leaves the count, then is closed with 1009 (counter_guard.py).
        guard: WebSocketGuard = websocket.state.counter_guard
        if guard.too_big(data):
            websocket.state.counter.discard(websocket)
            await guard.close_too_big(websocket)

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        websocket.state.counter.discard(websocket)


def landed_on(websocket: WebSocket) -> str:
    """The first message: where this WebSocket landed, as JSON; every later message is the count.

    The host is the address the connection was accepted on (one per host, also behind a proxy), the
    worker is this process's pid: with several workers or hosts, a page shows which one serves it.
    """
    server = websocket.scope.get("server") or ("unknown", None)
    return json.dumps({"host": server[0], "worker": os.getpid()})


async def counter_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "counter.html")
