"""Listing 9.5's query, and the rest of the API's SQL, on psycopg2 through this worker's pool (pool.py)."""

from __future__ import annotations

from typing import Any, cast

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2.extras import RealDictCursor

from products_db.health import PING
from products_db.queries import SELECT_BRANDS_JSON  # Postgres writes the JSON array itself
from products_db.rules import NewProduct, ProductNotFound, UnknownBrand

from .pool import Connection, Database

SELECT_PRODUCT = "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1"
INSERT_PRODUCT = """
    INSERT INTO product (product_name, brand_id) VALUES ($1, $2)
    RETURNING product_id, product_name, brand_id
"""


def brands_json(database: Database) -> str:
    """Listing 9.5: borrow a connection, run the query, return the rows (here already JSON text)."""
    with database.connection() as connection, connection.cursor() as cursor:
        # A blocking call: this worker does nothing else until Postgres answers.
        # That is why the book needs 8 processes where aiohttp needs one.
        execute(cursor, "brands_json")
        row = cursor.fetchone()
    assert row is not None  # an aggregate answers one row, even over no rows
    return row[0]


def product(database: Database, product_id: int) -> dict[str, Any]:
    with database.connection() as connection, connection.cursor(cursor_factory=RealDictCursor) as cursor:
        execute(cursor, "product", product_id)
        row = cursor.fetchone()
    if row is None:
        raise ProductNotFound(product_id)
    return row


def create_product(database: Database, new: NewProduct) -> dict[str, Any]:
    # As in aiohttp_api: the foreign key decides whether the brand exists, atomically.
    try:
        with database.connection() as connection, connection.cursor(cursor_factory=RealDictCursor) as cursor:
            execute(cursor, "insert_product", new.product_name, new.brand_id)
            row = cursor.fetchone()
    except psycopg2.errors.ForeignKeyViolation:
        raise UnknownBrand(new.brand_id) from None
    assert row is not None  # INSERT ... RETURNING returns the row it inserted
    return row


def ping(database: Database) -> None:
    """/readyz: one round trip through this worker's pool (a dead connection is replaced, as for any request)."""
    with database.connection() as connection, connection.cursor() as cursor:
        # psycopg2 blocks with no time limit of its own: a database that went
        # away fails at once, one that hangs holds this worker (connect_timeout bounds a new connection).
        cursor.execute(PING)


# psycopg2 sends a query's whole text every time, and Postgres parses and plans
# it again (asyncpg prepares each query once per connection by itself). So each
# connection prepares a statement the first time it runs it, then runs it by name (measured: README.md).
STATEMENTS = {"brands_json": SELECT_BRANDS_JSON, "product": SELECT_PRODUCT, "insert_product": INSERT_PRODUCT}


def execute(cursor: psycopg2.extensions.cursor, name: str, *args: object) -> None:
    prepared = cast(Connection, cursor.connection).prepared  # the pool opens every connection as a Connection
    if name not in prepared:
        cursor.execute(f"PREPARE {name} AS {STATEMENTS[name]}")
        prepared.add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(args))})" if args else f"EXECUTE {name}", args)
