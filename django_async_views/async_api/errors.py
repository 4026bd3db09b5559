"""The one layer that turns errors into answers, for every view: domain errors, outages, Django's HTTP errors."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.core.exceptions import RequestDataTooBig
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin

from products_db.outage import OUTAGE, database_unavailable
from products_db.rules import InvalidInput, PayloadTooLarge, ProductNotFound

AsyncView = Callable[..., Awaitable[HttpResponse]]
View = TypeVar("View", bound=Callable[..., Any])


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, headers=headers)


class ErrorAnswers(MiddlewareMixin):
    """Django hands process_exception whatever a view raised: the answer is decided here, or by handler500 below.

    It has no per-request hook, so under ASGI a request that raises nothing never
    leaves the event loop for it (Django runs process_exception in the request's thread).
    """

    def process_exception(self, request: HttpRequest, error: Exception) -> HttpResponse | None:
        if isinstance(error, (InvalidInput, ProductNotFound)):
            # The mark of html_400 below; Django's view decorators copy it onto their wrappers.
            page_when = getattr(request.resolver_match.func, "html_400", None)
            if page_when is not None and page_when(request):
                context = {"error": error.message}
                return render(request, "async_api/bad_request.html", context, status=error.status)
            return json_error(error.status, error.message)
        if isinstance(error, RequestDataTooBig):
            # request.body over DATA_UPLOAD_MAX_MEMORY_SIZE (settings.py).
            return json_error(413, PayloadTooLarge().message)
        if database_unavailable(error):
            # Postgres stopping, starting or out of reach (Django's OperationalError or
            # InterfaceError around psycopg's, the pool's timeout, /readyz's): one log
            # line per outage in this process, not one per request.
            OUTAGE.refused(error)
            return json_error(503, "the database is unavailable, try again later")
        return None  # a bug: Django logs it with its traceback and answers handler500


def html_400(when: Callable[[HttpRequest], bool] = lambda request: True) -> Callable[[View], View]:
    """Mark a teaching view: a bad parameter is the HTML 400 page when `when(request)`, as its answer would
    have been; every other view's errors are JSON. Only a mark (as csrf_exempt marks a view for Django's
    CSRF middleware), so the view stays as it is, sync or async, and Django runs it as such."""

    def mark(view: View) -> View:
        view.html_400 = when  # type: ignore[attr-defined]
        return view

    return mark


def allow(*methods: str) -> Callable[[AsyncView], AsyncView]:
    """Django's require_http_methods for the REST API: a JSON 405 with its Allow header (HEAD comes with GET)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
    allow_header = ",".join(sorted(allowed))

    def decorate(view: AsyncView) -> AsyncView:
        # A coroutine function too, so Django still runs the view on the event loop.
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                return json_error(405, "method not allowed", {"Allow": allow_header})
            return await view(request, *args, **kwargs)

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


# Django's defaults for errors raised outside a view (an unknown path, a bad Host header,
# a crash) are HTML pages; the project's urls.py points handler400/403/404/500 here.
# They are plain functions: Django calls them from its exception handling, in sync code.
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(400, "bad request")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(403, "forbidden")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(404, "not found")


def server_error(request: HttpRequest) -> HttpResponse:
    return json_error(500, "internal server error")
