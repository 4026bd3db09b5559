"""The API's SQL and the asyncpg functions both async apps run it with; they raise domain errors, never HTTP ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .outage import sqlstate
from .rules import NewProduct, ProductNotFound, UnknownBrand

if TYPE_CHECKING:  # Flask imports the SQL and never loads asyncpg
    import asyncpg

# Postgres writes the JSON array itself (json_agg, in C) and sends it as one text
# value: no Record, dict and json.dumps call per row in Python, on every request.
# Flask runs it too (flask_api/db.py), and bench/ceiling.py measures it without HTTP.
SELECT_BRANDS_JSON = """
    SELECT coalesce(json_agg(b ORDER BY b.brand_id), '[]')::text
    FROM (SELECT brand_id, brand_name FROM brand) AS b
"""
SELECT_PRODUCT = "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1"
INSERT_PRODUCT = """
    INSERT INTO product (product_name, brand_id) VALUES ($1, $2)
    RETURNING product_id, product_name, brand_id
"""
FOREIGN_KEY_VIOLATION = "23503"  # the SQLSTATE of asyncpg.ForeignKeyViolationError


async def brands_json(pool: asyncpg.Pool) -> str:
    # While this query is in flight the handler is suspended and the event loop
    # serves other requests: that is the whole point of an async driver. asyncpg
    # prepares the statement on its first use on a connection and reuses it, so
    # later requests skip Postgres' parsing and planning.
    return await pool.fetchval(SELECT_BRANDS_JSON)


async def product(pool: asyncpg.Pool, product_id: int) -> dict[str, Any]:
    row = await pool.fetchrow(SELECT_PRODUCT, product_id)
    if row is None:
        raise ProductNotFound(product_id)
    return dict(row)


async def create_product(pool: asyncpg.Pool, new: NewProduct) -> dict[str, Any]:
    # No "does the brand exist?" query first: another request could delete the
    # brand between the check and the insert. The foreign key decides, atomically.
    try:
        row = await pool.fetchrow(INSERT_PRODUCT, new.product_name, new.brand_id)
    except Exception as error:
        if sqlstate(error) == FOREIGN_KEY_VIOLATION:
            raise UnknownBrand(new.brand_id) from None
        raise
    assert row is not None  # INSERT ... RETURNING returns the row it inserted
    return dict(row)
