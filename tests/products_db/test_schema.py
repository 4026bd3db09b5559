"""The schema and the seed: the book's shape, the same rows everywhere, idempotent."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest

from products_db import schema

TABLE_ORDER = {
    "brand": "brand_id",
    "product": "product_id",
    "product_color": "product_color_id",
    "product_size": "product_size_id",
    "sku": "sku_id",
}


async def content_digest(url: str) -> str:
    """A hash of every row of every table, in id order."""
    connection = await asyncpg.connect(url)
    try:
        digest = hashlib.sha256()
        for table, key in TABLE_ORDER.items():
            for row in await connection.fetch(f"SELECT * FROM {table} ORDER BY {key}"):
                digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()
    finally:
        await connection.close()


@pytest.fixture
async def fresh_database(database_url: str):
    """Create empty databases next to the test database, dropped afterwards."""
    admin = await asyncpg.connect(database_url)
    created: list[str] = []

    async def make(name: str) -> str:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return database_url.rsplit("/", 1)[0] + "/" + name

    yield make
    for name in created:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def test_row_counts_match_the_book(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM brand") == 100
        assert await connection.fetchval("SELECT count(*) FROM product WHERE product_id <= 1000") == 1000
        assert await connection.fetchval("SELECT count(*) FROM sku") == 100_000
        colors = await connection.fetch("SELECT product_color_name FROM product_color ORDER BY 1")
        sizes = await connection.fetch("SELECT product_size_name FROM product_size ORDER BY product_size_id")
        assert [r[0] for r in colors] == ["Black", "Blue"]
        assert [r[0] for r in sizes] == ["Small", "Medium", "Large"]
    finally:
        await connection.close()


async def test_names_are_clean(database_url: str) -> None:
    """The book's generator left a newline in every name; ours has none, and ten words per product."""
    connection = await asyncpg.connect(database_url)
    try:
        names = await connection.fetch("SELECT product_name FROM product WHERE product_id <= 1000")
        brands = await connection.fetch("SELECT brand_name FROM brand")
    finally:
        await connection.close()
    vocabulary = set(schema.words())
    for (name,) in names:
        assert name == name.strip() and "\n" not in name
        assert len(name.split(" ")) == 10 and set(name.split(" ")) <= vocabulary
    assert all(name in vocabulary for (name,) in brands)


async def test_foreign_keys_are_indexed(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        indexed = {
            (row["tablename"], row["indexdef"].rsplit("(", 1)[1].rstrip(")"))
            for row in await connection.fetch("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname='public'")
        }
    finally:
        await connection.close()
    for table, column in [
        ("product", "brand_id"),
        ("sku", "product_id"),
        ("sku", "product_size_id"),
        ("sku", "product_color_id"),
    ]:
        assert (table, column) in indexed


@pytest.mark.slow
async def test_seed_is_deterministic_and_idempotent(fresh_database) -> None:
    first = await fresh_database("seed_check_a")
    second = await fresh_database("seed_check_b")
    assert (await schema.prepare(first))["seeded"] is True
    assert (await schema.prepare(second))["seeded"] is True
    digest = await content_digest(first)
    assert await content_digest(second) == digest  # two fresh databases, identical content

    assert (await schema.prepare(first))["seeded"] is False  # already seeded: untouched
    assert await content_digest(first) == digest
    assert (await schema.prepare(first, reseed=True))["seeded"] is True  # reloaded: the same rows
    assert await content_digest(first) == digest


async def test_reseed_restores_and_sequences_continue(fresh_database) -> None:
    url = await fresh_database("seed_check_c")
    await schema.prepare(url)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("INSERT INTO product (product_name, brand_id) VALUES ('extra', 1)")
        await schema.prepare(url, reseed=True)
        assert await connection.fetchval("SELECT count(*) FROM product") == 1000
        new_id = await connection.fetchval(
            "INSERT INTO product (product_name, brand_id) VALUES ('next', 1) RETURNING product_id"
        )
        assert new_id == 1001
    finally:
        await connection.close()
