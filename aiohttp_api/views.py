"""Request handlers: parse the request, call the queries (products_db/queries.py), shape the response."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from products_db import health, queries
from products_db.http_limits import check_content_type
from products_db.rules import decode_json_body, parse_new_product, parse_product_id

from .keys import POOL


async def current_time(request: web.Request) -> web.Response:
    """Listing 9.1: no I/O at all, the smallest possible handler."""
    now = datetime.now()
    return web.json_response({"month": now.month, "day": now.day, "time": now.time().isoformat()})


async def brands(request: web.Request) -> web.Response:
    """Listing 9.2 (the rows arrive as JSON text already: see products_db/queries.py)."""
    return web.Response(text=await queries.brands_json(request.app[POOL]), content_type="application/json")


async def get_product(request: web.Request) -> web.Response:
    """Listing 9.3."""
    product_id = parse_product_id(request.match_info["id"])
    return web.json_response(await queries.product(request.app[POOL], product_id))


async def create_product(request: web.Request) -> web.Response:
    """Listing 9.4, with the validation the book leaves out."""
    check_content_type(request.headers.get("Content-Type"))
    # read() is a coroutine: a large body arrives in pieces, and awaiting it lets
    # other requests run meanwhile. aiohttp answers 413 past client_max_size.
    body = decode_json_body(await request.read())
    product = await queries.create_product(request.app[POOL], parse_new_product(body))
    return web.json_response(product, status=201, headers={"Location": f"/products/{product['product_id']}"})


async def healthz(request: web.Request) -> web.Response:
    """Alive: answered by the event loop alone, no database."""
    return web.json_response(health.ALIVE)


async def readyz(request: web.Request) -> web.Response:
    """Ready: one round trip to the database within health.READY_TIMEOUT, else 503 (errors.py)."""
    await health.ping(request.app[POOL])
    return web.json_response(health.READY)
