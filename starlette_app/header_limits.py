"""Bounds on a request's header fields as a pure ASGI middleware: uvicorn with httptools has none.

gunicorn's own parser refuses more than 100 header fields or one over 8190 bytes,
nginx a field over 8 KB; uvicorn's httptools parser takes any number of any size,
and gunicorn's UvicornWorker leaves the parsing to uvicorn. The server has read the
whole header section by the time an ASGI app runs, so this cannot save that memory:
it keeps such a request from reaching any handler, which would copy every field
into a Headers object, log them or pass them on.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from products_db.http_limits import HeaderFieldsTooLarge, HeaderLimits


class HeaderLimit:
    """Answer 431 (JSON) to a request or WebSocket handshake past the limits; MAX_REQUEST_HEADERS, MAX_HEADER_BYTES."""

    def __init__(self, app: ASGIApp, limits: HeaderLimits | None = None) -> None:
        self.app = app
        self.limits = limits or HeaderLimits.from_env()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            self.limits.check(scope["headers"])
        except HeaderFieldsTooLarge as error:
            if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008})  # the server answers the handshake 403
                return
            # Connection: close, as gunicorn does: the server reads no further request from this client.
            # (Starlette sends a refused WebSocket handshake this answer through the http.response extension.)
            response = JSONResponse({"error": error.message}, status_code=error.status, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
