"""Listings 9.11, 9.14 and 9.15: async views, sync_to_async and async_to_sync, plus the index and a loop probe."""

from __future__ import annotations

from dataclasses import asdict

from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from products_db.rules import InvalidInput

from .blocking import run_sleeps
from .errors import html_400
from .lanes import batch_timeline, threads_timeline
from .loops import running_loop_info
from .params import Limits, parse_batch, parse_format, parse_sleeps
from .requests_batch import Batch, make_requests

# The aiohttp API that `make demo` starts on port 8080; the demo names 127.0.0.1 in
# ASYNC_API_ALLOWED_TARGET_HOSTS, since by default only public addresses may be called.
EXAMPLE_URL = "http://127.0.0.1:8080/brands"


def answer_format(request: HttpRequest) -> str:
    """format=html|json, else the Accept header: a browser asks for text/html first; curl and
    scripts send */*, which gets JSON (the first type offered here)."""
    preferred = request.get_preferred_type(["application/json", "text/html"])
    return parse_format(request.GET, accept_prefers_html=preferred == "text/html")


def answers_html(request: HttpRequest) -> bool:
    """Whether the good answer would have been a page, so a 400 is one too (errors.py)."""
    try:
        return answer_format(request) == "html"
    except InvalidInput:
        return False  # format= itself is wrong: answer in the default format, JSON


@require_GET
async def index(request: HttpRequest) -> HttpResponse:
    return render(request, "async_api/index.html", {"example_url": EXAMPLE_URL, "limits": Limits.from_settings()})


@require_GET
@html_400()  # a bad parameter answers a 400 page, not JSON (errors.py)
async def requests_view(request: HttpRequest) -> HttpResponse:
    """Listing 9.11: an async view. Under ASGI it runs on the server's event loop; under WSGI
    Django gives it a fresh loop of its own, so it still sends its requests concurrently."""
    limits = Limits.from_settings()  # the bounds settings.py sets (params.py)
    params = parse_batch(request.GET, limits)  # url and request_num, checked against them: else a 400 (params.py)
    batch = await make_requests(params.url, params.request_num, limits)  # the concurrent GETs (requests_batch.py)
    return batch_page(request, batch, "async view")


@require_GET
@html_400()
def requests_view_sync(request: HttpRequest) -> HttpResponse:
    """Listing 9.15: a sync view that still uses the async batch, through async_to_sync. Under ASGI the
    coroutine is sent to the server's running loop; under WSGI a new loop is made for this call."""
    limits = Limits.from_settings()
    params = parse_batch(request.GET, limits)
    batch = async_to_sync(make_requests)(params.url, params.request_num, limits)
    return batch_page(request, batch, "sync view + async_to_sync")


def batch_page(request: HttpRequest, batch: Batch, view: str) -> HttpResponse:
    """Listing 9.12's page, with a timeline of the requests drawn above the tables."""
    context = {"batch": batch, "view": view, "timeline": batch_timeline(batch)}  # the bars' places (lanes.py)
    return render(request, "async_api/requests.html", context)


@require_GET
@vary_on_headers("Accept")
@html_400(when=answers_html)
async def sync_to_async_view(request: HttpRequest) -> HttpResponse:
    """Listing 9.14: blocking calls from an async view, thread-sensitive (one thread, serial) or not (parallel).
    JSON, or a page with one lane per thread for format=html or a browser."""
    params = parse_sleeps(request.GET, Limits.from_settings())
    as_html = answer_format(request) == "html"  # checked before sleeping: a bad format is a 400 at once
    result = await run_sleeps(params.sleep_time, params.num_calls, params.thread_sensitive)
    if as_html:
        timeline = threads_timeline(result["calls"], result["elapsed_ms"])
        return render(request, "async_api/sync_to_async.html", {"result": result, "timeline": timeline})
    return JsonResponse(result)


@require_GET
@vary_on_headers("Accept")
@html_400(when=answers_html)
async def loop_view(request: HttpRequest) -> HttpResponse:
    """The event loop running this async view: the same one on every request under ASGI, a new one under WSGI
    (the book asks the reader to print id(asyncio.get_running_loop()) to see this). JSON, or a page in words."""
    as_html = answer_format(request) == "html"
    # Django's ASGI handler builds ASGIRequests, its WSGI handler WSGIRequests: the request knows the server.
    probe = {**asdict(running_loop_info()), "server": "ASGI" if isinstance(request, ASGIRequest) else "WSGI"}
    if as_html:
        return render(request, "async_api/loop.html", {"probe": probe})
    return JsonResponse(probe)
