"""Security headers for the counter's page and its static files: what the browser may run, load and frame."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A Host header that is a plain host name or address, with an optional port: only such a value is
# copied into the policy (anything else, say with a ';' or a space, could add directives of its own).
PLAIN_HOST = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?", re.IGNORECASE)

# Content-Security-Policy: the page may run only scripts and styles from this site's own files (no
# inline <script> or style=, so an injected one would not run), connect only to this site, and be
# shown in no frame (no clickjacking). 'self' covers ws: and wss: to the same host in CSP Level 3,
# but Safari does not apply that rule, so the WebSocket's own address is named too.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'{websocket}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",  # a script or style is run only if served as one
    "Referrer-Policy": "no-referrer",  # links and requests from the page do not tell where they came from
    "X-Frame-Options": "DENY",  # frame-ancestors 'none' for browsers that predate it
}


def security_headers(host: str) -> dict[str, str]:
    websocket = f" ws://{host} wss://{host}" if PLAIN_HOST.fullmatch(host) else ""
    return {"Content-Security-Policy": POLICY.format(websocket=websocket), **FIXED_HEADERS}


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response of the app it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(Headers(scope=scope).get("host", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
