"""Two limits on the counter's WebSocket: which pages may open it, and how big a client's message may be."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette import status
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket


@dataclass(frozen=True)
class WebSocketGuard:
    """What the counter's endpoint asks before it accepts a WebSocket, and on every message it receives."""

    allowed_origins: Collection[str]  # COUNTER_ALLOWED_ORIGINS: other sites' pages that may connect
    max_message: int  # COUNTER_MAX_MESSAGE: bytes; clients have nothing to say, so this is small

    async def admit(self, websocket: WebSocket) -> bool:
        """Refuse at the handshake, with 403 and a JSON body, a WebSocket opened by another site's page.

        Cross-Site WebSocket Hijacking: the same-origin policy and CORS do not cover WebSockets, so
        any page, on any site, may open one to this server, and the browser sends this site's cookies
        along. What the browser always adds, and a page cannot forge, is the Origin of that page: it
        must be the site the counter page came from (the Host the browser asked for) or one that
        COUNTER_ALLOWED_ORIGINS names. No Origin at all means no browser (the tests,
        bench/counter_load.py, curl); such a client could send any Origin it likes, so refusing it
        would protect nobody.
        """
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host", "")
        if origin is None or same_origin(origin, host) or origin.lower().rstrip("/") in self.allowed_origins:
            return True
        error = f"this WebSocket may only be opened by pages of {host or 'this site'}, not by {origin}"
        # An HTTP answer instead of the upgrade (ASGI's WebSocket Denial Response). uvicorn 0.54's default
        # WebSocket protocol then also logs "ASGI callable returned without completing handshake": a
        # false alarm of its own (the 403 did go out), see the pull request Kludex/uvicorn#3138.
        await websocket.send_denial_response(JSONResponse({"error": error}, status_code=status.HTTP_403_FORBIDDEN))
        return False

    def too_big(self, data: str | bytes) -> bool:
        """Is this message from a client over max_message bytes?"""
        # A str of more characters than the limit has more bytes too: no need to encode it to know.
        if isinstance(data, str) and len(data) <= self.max_message:
            data = data.encode()
        return len(data) > self.max_message

    async def close_too_big(self, websocket: WebSocket) -> None:
        """Close with 1009 (message too big) a client that sent more than max_message bytes at once.

        uvicorn has already read the message (up to its --ws-max-size, 16 MiB by default), but a
        client that sends something this big is not the counter page: closing it at once stops it
        from making the server read 16 MiB again and again on one connection.
        """
        await websocket.close(status.WS_1009_MESSAGE_TOO_BIG, f"messages are limited to {self.max_message} bytes")


def same_origin(origin: str, host: str) -> bool:
    """Is the page at `origin` (scheme://host[:port]) from the host and port the browser sent this request to?"""
    parts = urlsplit(origin.lower())
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host.lower()


def parse_origins(value: str) -> frozenset[str]:
    """COUNTER_ALLOWED_ORIGINS: origins as a browser sends them, "https://example.com:8443", separated by commas."""
    origins = set()
    for item in value.replace(",", " ").split():
        origin = item.lower().rstrip("/")
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError(f"COUNTER_ALLOWED_ORIGINS: {item!r} is not an origin like https://example.com:8443")
        origins.add(origin)
    return frozenset(origins)
