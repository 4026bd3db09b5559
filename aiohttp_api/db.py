"""The SQL of the API and the functions that run it; they raise domain errors, never HTTP ones."""

from __future__ import annotations

from typing import Any

import asyncpg

from products_db.rules import NewProduct, ProductNotFound, UnknownBrand

SELECT_BRANDS = "SELECT brand_id, brand_name FROM brand ORDER BY brand_id"
SELECT_PRODUCT = "SELECT product_id, product_name, brand_id FROM product WHERE product_id = $1"
INSERT_PRODUCT = """
    INSERT INTO product (product_name, brand_id) VALUES ($1, $2)
    RETURNING product_id, product_name, brand_id
"""


async def brands(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    # While this query is in flight the handler is suspended and the event loop
    # serves other requests: that is the whole point of an async driver.
    return [dict(row) for row in await pool.fetch(SELECT_BRANDS)]


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
    except asyncpg.ForeignKeyViolationError:
        raise UnknownBrand(new.brand_id) from None
    return dict(row)
