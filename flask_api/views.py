"""Request handlers: parse the request, call the db layer, shape the response (plain functions, no await)."""

from __future__ import annotations

import json

from flask import Response, current_app, request

from products_db import health
from products_db.http_limits import check_content_type
from products_db.rules import decode_json_body, parse_new_product, parse_product_id

from . import db
from .pool import EXTENSION, Database

JSON_TYPE = "application/json; charset=utf-8"


def brands() -> Response:
    """Listing 9.5: the brands as JSON text, written by Postgres on a connection of this worker's pool (db.py)."""
    return Response(db.brands_json(database()), content_type=JSON_TYPE)


def get_product(product_id: str) -> Response:
    return json_response(db.product(database(), parse_product_id(product_id)))


def create_product() -> Response:
    check_content_type(request.headers.get("Content-Type"))
    # get_data() reads the whole body, blocking this worker meanwhile. Werkzeug answers 413
    # for a Content-Length past MAX_CONTENT_LENGTH (app.py) before reading; a chunked
    # body has no length, so Werkzeug stops at that size without an error: the limit is one
    # byte past MAX_BODY_BYTES, so that decode_json_body sees a body over it (413), never a cut one.
    body = decode_json_body(request.get_data(cache=False))
    product = db.create_product(database(), parse_new_product(body))
    return json_response(product, status=201, headers={"Location": f"/products/{product['product_id']}"})


def healthz() -> Response:
    """Alive: this worker answers; no database."""
    return json_response(health.ALIVE)


def readyz() -> Response:
    """Ready: one round trip through this worker's pool, else 503 (errors.py)."""
    db.ping(database())
    return json_response(health.READY)


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # json.dumps as aiohttp's json_response does, not jsonify: jsonify sorts
    # keys and drops the spaces, and every framework must send the same bytes.
    return Response(json.dumps(payload), status=status, headers=headers, content_type=JSON_TYPE)


def database() -> Database:
    return current_app.extensions[EXTENSION]
