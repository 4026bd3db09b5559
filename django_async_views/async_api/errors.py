"""The one layer that turns domain errors and Django's HTTP errors into JSON bodies for the REST API."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse, JsonResponse

from products_db.outage import OUTAGE, database_unavailable
from products_db.rules import InvalidInput, PayloadTooLarge, ProductNotFound

log = logging.getLogger(__name__)

AsyncView = Callable[..., Awaitable[HttpResponse]]


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, headers=headers)


def json_api(*methods: str) -> Callable[[AsyncView], AsyncView]:
    """Allow only these methods (HEAD comes with GET) and answer every domain error as JSON."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
    allow_header = ",".join(sorted(allowed))

    def decorate(view: AsyncView) -> AsyncView:
        # The wrapper is a coroutine function too, so Django still runs the view
        # as an async view on the event loop instead of in a worker thread.
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                return json_error(405, "method not allowed", {"Allow": allow_header})
            try:
                return await view(request, *args, **kwargs)
            except (InvalidInput, ProductNotFound) as error:
                return json_error(error.status, error.message)
            except RequestDataTooBig:
                # request.body over DATA_UPLOAD_MAX_MEMORY_SIZE (settings.py).
                return json_error(413, PayloadTooLarge().message)
            except Exception as error:
                if not database_unavailable(error):
                    raise  # a bug: Django logs it with its traceback and answers handler500
                # Postgres stopping, starting or out of reach (Django's OperationalError
                # or InterfaceError around psycopg's, the pool's timeout): one log line
                # per outage in this process, not one per request.
                OUTAGE.refused(error)
                return json_error(503, "the database is unavailable, try again later")

        return wrapper

    return decorate


def _note_success(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Around every query of the ORM: one that went through ends an outage (one boolean read otherwise)."""
    started_in = OUTAGE.outages
    result = execute(sql, params, many, context)
    OUTAGE.succeeded(started_in)
    return result


def _watch_queries(sender: type, connection: Any, **kwargs: Any) -> None:
    # Django sends connection_created each time a request borrows a connection
    # from the pool, on a wrapper that may be new: add the watcher once per wrapper.
    if _note_success not in connection.execute_wrappers:
        connection.execute_wrappers.append(_note_success)


connection_created.connect(_watch_queries)


# Django's defaults for errors raised outside a view are HTML pages; the
# project's urls.py points handler400/403/404/500 here. They are plain
# functions: Django calls them from its exception handling, in sync code.
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(400, "bad request")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(403, "forbidden")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(404, "not found")


def server_error(request: HttpRequest) -> HttpResponse:
    return json_error(500, "internal server error")
