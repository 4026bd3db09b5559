"""Creates the products schema and loads the deterministic seed data through COPY."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SCHEMA_SQL = SQL_DIR / "schema.sql"
WORDS_FILE = SQL_DIR / "words.txt"

# The book's shape: 100 brands, 1,000 products of 10 words, 100,000 SKUs.
SEED = 20211125
BRAND_COUNT = 100
PRODUCT_COUNT = 1_000
WORDS_PER_PRODUCT = 10
SKU_COUNT = 100_000
COLORS = ("Blue", "Black")
SIZES = ("Small", "Medium", "Large")

# Table order for COPY: every table after the ones it references.
TABLES = ("brand", "product_color", "product_size", "product", "sku")

# Any constant works; every process that seeds takes this lock so two of them
# (two `make db`, parallel test sessions) never load the data twice.
SEED_LOCK_KEY = 905_2021

TRUNCATE_ALL = "TRUNCATE sku, product, product_size, product_color, brand RESTART IDENTITY"
COUNT_BRANDS = "SELECT count(*) FROM brand"
# COPY writes explicit ids and does not advance the SERIAL sequences: move
# them past the seeded rows so the next INSERT gets a fresh id.
RESET_SEQUENCE = "SELECT setval(pg_get_serial_sequence($1, $2), (SELECT max({column}) FROM {table}))"


@dataclass(frozen=True)
class SeedData:
    brands: list[tuple[int, str]]
    colors: list[tuple[int, str]]
    sizes: list[tuple[int, str]]
    products: list[tuple[int, str, int]]
    skus: list[tuple[int, int, int, int]]


def words() -> list[str]:
    return WORDS_FILE.read_text().split()  # in file order: the seed draws from them by position


def generate(seed: int = SEED) -> SeedData:
    """The same rows on every machine: one seeded generator, drawn from in a fixed order."""
    rng = random.Random(seed)
    vocabulary = words()
    brands = [(i, rng.choice(vocabulary)) for i in range(1, BRAND_COUNT + 1)]
    products = [
        (i, " ".join(rng.choices(vocabulary, k=WORDS_PER_PRODUCT)), rng.randint(1, BRAND_COUNT))
        for i in range(1, PRODUCT_COUNT + 1)
    ]
    skus = [
        (i, rng.randint(1, PRODUCT_COUNT), rng.randint(1, len(SIZES)), rng.randint(1, len(COLORS)))
        for i in range(1, SKU_COUNT + 1)
    ]
    return SeedData(
        brands=brands,
        colors=list(enumerate(COLORS, start=1)),
        sizes=list(enumerate(SIZES, start=1)),
        products=products,
        skus=skus,
    )


async def create_schema(connection: asyncpg.Connection) -> None:
    await connection.execute(SCHEMA_SQL.read_text())


async def load(connection: asyncpg.Connection, data: SeedData) -> None:
    """Bulk-load with COPY: one round trip per table instead of one per row."""
    rows: dict[str, Sequence[Sequence[object]]] = {
        "brand": data.brands,
        "product_color": data.colors,
        "product_size": data.sizes,
        "product": data.products,
        "sku": data.skus,
    }
    for table in TABLES:
        await connection.copy_records_to_table(table, records=rows[table])
    for table, column in (
        ("brand", "brand_id"),
        ("product_color", "product_color_id"),
        ("product_size", "product_size_id"),
        ("product", "product_id"),
        ("sku", "sku_id"),
    ):
        await connection.execute(RESET_SEQUENCE.format(column=column, table=table), table, column)


async def prepare(url: str, *, reseed: bool = False) -> dict[str, float | bool]:
    """Create the schema, and seed it if it is empty (or always, with reseed).

    Idempotent: the data is replaced inside one transaction, so running it again
    leaves exactly the same rows, and a reader never sees a half-loaded store.
    """
    started = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", SEED_LOCK_KEY)
            await create_schema(connection)
            seeded = False
            if reseed or await connection.fetchval(COUNT_BRANDS) == 0:
                await connection.execute(TRUNCATE_ALL)
                await load(connection, generate())
                seeded = True
        if seeded:
            await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return {"seeded": seeded, "seconds": time.perf_counter() - started}
