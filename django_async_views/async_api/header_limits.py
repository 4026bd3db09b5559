"""Bounds on a request's header fields before Django sees it: uvicorn with httptools has none.

gunicorn's own parser refuses more than 100 header fields or one over 8190 bytes
(the WSGI command gets that); under `-k uvicorn_worker.UvicornWorker` uvicorn's
httptools parser does the parsing and takes any number of any size. Django has no
limit of its own on headers: every one becomes a META entry of every request. The
server has read the whole header section by the time this runs; this keeps such a
request from reaching Django at all.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from products_db.http_limits import HeaderFieldsTooLarge, HeaderLimits

from .body_limit import ASGIApp, Receive, Send, send_json_error


class HeaderLimit:
    """An ASGI wrapper around Django's application (asgi.py): 431 past MAX_REQUEST_HEADERS or MAX_HEADER_BYTES."""

    def __init__(self, app: ASGIApp, limits: HeaderLimits | None = None) -> None:
        self.app = app
        self.limits = limits or HeaderLimits.from_env()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self.limits.check(scope["headers"])
            except HeaderFieldsTooLarge as error:
                await send_json_error(send, error.status, error.message, close=True)
                return
        await self.app(scope, receive, send)
