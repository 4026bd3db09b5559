"""The one layer that turns domain errors and Starlette's HTTP errors into JSON bodies."""

from __future__ import annotations

import logging
from http import HTTPStatus

import asyncpg
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from products_db.rules import InvalidInput, ProductNotFound

log = logging.getLogger(__name__)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def domain_error(conn: HTTPConnection, error: Exception) -> Response:
    # InvalidInput covers 400, 413 (PayloadTooLarge, raised by BodySizeLimit) and
    # 415; ProductNotFound is 404. Each carries its status and message.
    assert isinstance(error, InvalidInput | ProductNotFound)
    return json_error(error.status, error.message)


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


async def database_unavailable(conn: HTTPConnection, error: Exception) -> Response:
    if not isinstance(conn, Request):
        raise error  # a WebSocket handler deals with its own failures
    log.error("database unavailable", exc_info=error)
    return json_error(503, "the database is unavailable, try again later")


async def server_error(conn: HTTPConnection, error: Exception) -> Response:
    # Starlette's ServerErrorMiddleware calls this for anything unhandled and
    # still re-raises, so the server logs the traceback; the client gets JSON.
    return json_error(500, "internal server error")


# Starlette looks a raised exception up by class (most derived first) and calls
# its handler; the handlers of Exception (or 500) run outermost, in ServerErrorMiddleware.
exception_handlers: dict[type[Exception], ExceptionHandler] = {
    InvalidInput: domain_error,
    ProductNotFound: domain_error,
    HTTPException: http_error,
    TimeoutError: database_unavailable,
    OSError: database_unavailable,
    asyncpg.InterfaceError: database_unavailable,
    asyncpg.PostgresConnectionError: database_unavailable,
    Exception: server_error,
}
