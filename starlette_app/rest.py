"""The REST handlers on Starlette (listing 9.8, plus the aiohttp API's product endpoints): HTTP only."""

from __future__ import annotations

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from products_db import health, queries
from products_db.http_limits import check_content_type
from products_db.rules import decode_json_body, parse_new_product, parse_product_id


def pool(request: Request) -> asyncpg.Pool:
    # The lifespan yielded {"pool": ...}; Starlette gives every request a
    # shallow copy of that state, so all requests of a process share one pool.
    return request.state.pool


async def brands(request: Request) -> Response:
    """Listing 9.8 (the rows arrive as JSON text already: see products_db/queries.py)."""
    return Response(await queries.brands_json(pool(request)), media_type="application/json")


async def get_product(request: Request) -> JSONResponse:
    product_id = parse_product_id(request.path_params["id"])
    return JSONResponse(await queries.product(pool(request), product_id))


async def create_product(request: Request) -> JSONResponse:
    check_content_type(request.headers.get("content-type"))
    # body() awaits the body message by message; BodySizeLimit (products_db/asgi_guards.py)
    # raises PayloadTooLarge from inside it once the limit is passed.
    body = decode_json_body(await request.body())
    product = await queries.create_product(pool(request), parse_new_product(body))
    return JSONResponse(product, status_code=201, headers={"Location": f"/products/{product['product_id']}"})


async def healthz(request: Request) -> JSONResponse:
    """Alive: answered by the event loop alone, no database."""
    return JSONResponse(health.ALIVE)


async def readyz(request: Request) -> JSONResponse:
    """Ready: one round trip to the database within health.READY_TIMEOUT, else 503 (errors.py)."""
    await health.ping(pool(request))
    return JSONResponse(health.READY)
