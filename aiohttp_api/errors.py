"""The one layer that turns domain errors and aiohttp's HTTP errors into JSON bodies."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from products_db.outage import OUTAGE, database_unavailable
from products_db.rules import InvalidInput, PayloadTooLarge, ProductNotFound

log = logging.getLogger(__name__)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (InvalidInput, ProductNotFound) as error:
        return json_error(error.status, error.message)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, PayloadTooLarge().message)
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects stay redirects
        # 404 for an unknown path, 405 with its Allow header, and so on.
        keep = {k: v for k, v in error.headers.items() if k.lower() == "allow"}
        return json_error(error.status, error.reason.lower(), keep)
    except Exception as error:
        if database_unavailable(error):
            # Postgres stopping, starting or out of reach: a retry later will do.
            # One log line per outage (products_db/outage.py), not one per request.
            OUTAGE.refused(error)
            return json_error(503, "the database is unavailable, try again later")
        # A bug, or a database that no longer matches the code: the one case
        # worth a traceback. Caught here, it is logged once in the shared format
        # and answered as JSON (aiohttp's own answer would be a text/plain 500).
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal server error")
