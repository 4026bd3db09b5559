"""The one layer that turns domain errors and Werkzeug's HTTP errors into JSON bodies."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from products_db.outage import OUTAGE, database_unavailable
from products_db.rules import InvalidInput, PayloadTooLarge, ProductNotFound

from .views import json_response

log = logging.getLogger(__name__)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status=status, headers=headers)


def domain_error(error: InvalidInput | ProductNotFound) -> Response:
    return json_error(error.status, error.message)


def http_error(error: HTTPException) -> Response:
    """404 for an unknown path, 405 with its Allow header, 413 past MAX_CONTENT_LENGTH, and so on."""
    if isinstance(error, RequestEntityTooLarge):
        return json_error(413, PayloadTooLarge().message)
    headers = None
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers = {"Allow": ",".join(sorted(error.valid_methods))}  # aiohttp's spelling
    return json_error(error.code or 500, (error.name or "error").lower(), headers)


def malformed_body(error: ParseException) -> Response:
    """gunicorn parses a chunked body as the view reads it: a bad chunk size raises there, in the app."""
    # What follows on the connection cannot be parsed either: close it after this answer.
    return json_error(400, f"request body is malformed: {error}", {"Connection": "close"})


def unexpected_error(error: Exception) -> Response:
    if database_unavailable(error):
        # Postgres stopping, starting or out of reach (psycopg2's OperationalError,
        # InterfaceError, or DatabaseUnavailable, an OSError): a retry
        # later will do. One log line per outage in this worker, not one per request.
        OUTAGE.refused(error)
        return json_error(503, "the database is unavailable, try again later")
    log.exception("unhandled error on %s %s", request.method, request.path)
    return json_error(500, "internal server error")


def setup_errors(app: Flask) -> None:
    app.register_error_handler(InvalidInput, domain_error)
    app.register_error_handler(ProductNotFound, domain_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(ParseException, malformed_body)
    app.register_error_handler(Exception, unexpected_error)
