"""A request aiohttp's parser refuses (a bad byte in the URL, a header past its bounds, garbage): a JSON 4xx.

aiohttp answers such a request itself, before any middleware or route runs, from
`RequestHandler.handle_error`: a text/plain 400, and an ERROR traceback in the log for each
one, so any client could fill the log. aiohttp offers no setting for that answer
(aio-libs/aiohttp#3287), so `JsonParseErrors` overrides `handle_error`, and
`answer_parse_errors_in_json(app)` has the server that runs the app, under `run_app` or
gunicorn's worker, build one per connection. The request is the client's fault: one INFO
line, no traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from .errors import json_error

log = logging.getLogger(__name__)

# aiohttp raises the same LineTooLong for a URL over max_line_size and a header field over
# max_field_size (8190), naming only the limit: the two must
# differ to tell a long URL (414) from a long header field (431). 8 KiB is nginx's default bound
# on a request line, the proxy scale_out/ puts in front; aiohttp's own default is 8190.
MAX_URL_BYTES = 8 * 1024


class JsonParseErrors(web.RequestHandler):
    """aiohttp's protocol for one connection, answering what its parser refuses in JSON."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)  # an error of a handler's, not the client's
        status, text = self.answer(exc)
        log.info("refused a request from %s with %d: %s", request.remote, status, text)
        # The parser cannot tell where the next request would start: close after answering.
        response = json_error(status, text, {"Connection": "close"})
        response.force_close()
        return response

    def answer(self, error: HttpProcessingError) -> tuple[int, str]:
        """Status and message for a parse error."""
        if isinstance(error, LineTooLong):
            limit = error.args[1]
            if limit == self.max_field_size:
                return 431, f"a request header field is longer than {self.max_field_size} bytes"
            if limit == self.max_line_size:
                return 414, f"the URL is longer than {self.max_line_size} bytes"
        if error.message == "Too many headers received":
            return 431, f"request has more than {self.max_headers} header fields"
        # aiohttp's own words, up to the first colon (after it, it quotes the request).
        reason = error.message.split(":", 1)[0].strip()[:100] or type(error).__name__
        return 400, f"malformed request: {reason}"


class _JsonParseErrorServer(web.Server):
    """aiohttp's server for an app, building a JsonParseErrors for each connection."""

    def __call__(self) -> web.RequestHandler:
        return JsonParseErrors(self, loop=self._loop, **self._kwargs)


def answer_parse_errors_in_json(app: web.Application) -> web.Application:
    """Have the server that runs `app` (AppRunner, under run_app and gunicorn alike) use JsonParseErrors."""
    make_server = app._make_handler  # what AppRunner calls: aiohttp takes no protocol class as a parameter

    def make_json_server(**kwargs: Any) -> web.Server:
        kwargs.setdefault("max_line_size", MAX_URL_BYTES)
        server = make_server(**kwargs)
        server.__class__ = _JsonParseErrorServer  # the same server, only its protocol factory differs
        return server

    app._make_handler = make_json_server  # type: ignore[method-assign]
    return app
