"""The one layer that turns domain errors and Starlette's HTTP errors into JSON bodies."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from products_db.outage import OUTAGE, database_unavailable
from products_db.rules import InvalidInput, ProductNotFound

log = logging.getLogger(__name__)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def domain_error(conn: HTTPConnection, error: Exception) -> Response:
    # InvalidInput covers 400, 413 (PayloadTooLarge, raised by BodySizeLimit) and
    # 415; ProductNotFound is 404. Each carries its status and message.
    assert isinstance(error, InvalidInput | ProductNotFound)
    return json_error(error.status, error.message)


async def client_gone(conn: HTTPConnection, error: Exception) -> Response:
    """The client hung up before its body arrived, or the server's parser refused the body and answered itself.

    Nobody reads an answer now (the server drops it), and there is nothing to log: the client did this.
    """
    return json_error(400, "the request body did not arrive whole")


async def http_error(conn: HTTPConnection, error: Exception) -> Response:
    """404 for an unknown path, 405 for a wrong method, as JSON like every other error."""
    assert isinstance(error, HTTPException)
    if error.status_code < 400:
        return Response(status_code=error.status_code, headers=error.headers)
    phrase = HTTPStatus(error.status_code).phrase
    message = phrase.lower() if error.detail == phrase else error.detail
    headers = {}
    if error.headers and "Allow" in error.headers:
        # Starlette joins a set of methods, so the order changes from process to
        # process; sort it so every worker answers alike (and like aiohttp).
        headers["Allow"] = ",".join(sorted(m.strip() for m in error.headers["Allow"].split(",")))
    return json_error(error.status_code, message, headers)


class UnexpectedErrors:
    """Answer a database outage with a JSON 503; log anything else once, with its traceback, and answer a JSON 500.

    Starlette's outermost layer (ServerErrorMiddleware, where a handler of Exception
    would run) re-raises every error after answering, so that the server logs it:
    uvicorn would add its own traceback in its own format. This layer, just inside
    it, keeps the error from going further.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            unavailable = database_unavailable(error)
            if unavailable:
                # Postgres stopping, starting or out of reach (asyncpg has many
                # classes for it, sorted by category in products_db/outage.py): one
                # log line per outage, not one per request.
                OUTAGE.refused(error)
            else:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise  # too late for an error answer: the server can only cut the connection
            if unavailable:
                await json_error(503, "the database is unavailable, try again later")(scope, receive, send)
            else:
                await json_error(500, "internal server error")(scope, receive, send)


# Starlette looks a raised exception up by class (most derived first) and calls
# its handler; what none of them takes reaches UnexpectedErrors.
exception_handlers: dict[type[Exception], ExceptionHandler] = {
    InvalidInput: domain_error,
    ProductNotFound: domain_error,
    HTTPException: http_error,
    ClientDisconnect: client_gone,
}
