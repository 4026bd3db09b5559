"""The REST API (the aiohttp API's three endpoints) as async Django views on the async ORM (Django 4.1+)."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.db import IntegrityError, connection
from django.http import HttpRequest, JsonResponse

from products_db import health
from products_db.http_limits import check_content_type
from products_db.rules import ProductNotFound, UnknownBrand, decode_json_body, parse_new_product, parse_product_id

from .errors import allow
from .models import Brand, Product

PRODUCT_FIELDS = ("product_id", "product_name", "brand_id")
FOREIGN_KEY_VIOLATION = "23503"  # Postgres SQLSTATE


# The async ORM (`async for`, afirst(), acreate()) lets these views await the
# database. Django's database layer itself is still synchronous: each query runs
# in a worker thread through sync_to_async while the event loop serves others.


@allow("GET")
async def brands(request: HttpRequest) -> JsonResponse:
    rows = [row async for row in Brand.objects.order_by("brand_id").values("brand_id", "brand_name")]
    return JsonResponse(rows, safe=False)  # safe=False: the body is a list, not an object


@allow("GET")
async def get_product(request: HttpRequest, product_id: str) -> JsonResponse:
    # The URL captures a string: our rules give 400 for "abc" or "99999999999",
    # where Django's <int:> converter would give a 404 or a 500.
    pk = parse_product_id(product_id)
    row = await Product.objects.filter(product_id=pk).values(*PRODUCT_FIELDS).afirst()
    if row is None:
        raise ProductNotFound(pk)
    return JsonResponse(row)


@allow("POST")
async def create_product(request: HttpRequest) -> JsonResponse:
    check_content_type(request.headers.get("Content-Type"))
    # request.body raises RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE.
    new = parse_new_product(decode_json_body(request.body))
    try:
        # No "does the brand exist?" query first: the foreign key decides, atomically.
        product = await Product.objects.acreate(product_name=new.product_name, brand_id=new.brand_id)
    except IntegrityError as error:
        if sqlstate(error) != FOREIGN_KEY_VIOLATION:
            raise
        raise UnknownBrand(new.brand_id) from None
    body = {field: getattr(product, field) for field in PRODUCT_FIELDS}
    return JsonResponse(body, status=201, headers={"Location": f"/products/{product.product_id}"})


def sqlstate(error: IntegrityError) -> str | None:
    """The Postgres error code behind Django's wrapper (psycopg2: pgcode, psycopg 3: sqlstate)."""
    cause = error.__cause__
    return getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)


@allow("GET")
async def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: no database."""
    return JsonResponse(health.ALIVE)


@allow("GET")
async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready: one round trip to the database within health.READY_TIMEOUT, else 503 (errors.py)."""
    # The query runs in a worker thread (Django's database layer is synchronous);
    # past the timeout the view answers 503 while that thread finishes on its own.
    async with asyncio.timeout(health.READY_TIMEOUT):
        await sync_to_async(ping)()
    return JsonResponse(health.READY)


def ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute(health.PING)
