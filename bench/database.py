"""The database of a run: DATABASE_URL or a throwaway Postgres, with the latency views installed meanwhile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from devenv.throwaway import seeded_database
from products_db.config import redact

from . import latency


@dataclass(frozen=True)
class Database:
    url: str  # our own role; latency.url_for() gives the apps' one for each latency
    source: str  # where it came from, in words, for the results
    port: int
    postgres: dict  # version and max_connections, for the results
    max_product_id: int

    @property
    def max_connections(self) -> int:
        return self.postgres["max_connections"]


@contextmanager
def database(latencies_ms: list[int]) -> Iterator[Database]:
    """DATABASE_URL if set, else a throwaway embedded Postgres that dies with the run.

    A throwaway server by default: the benchmark adds roles and schemas, which do
    not belong in the `make db` database a reader pokes at, and every run starts
    from the same state with the same settings (max_connections 300).
    """
    with seeded_database() as url:
        if os.environ.get("DATABASE_URL"):
            source = f"DATABASE_URL ({redact(url)})"
        else:
            source = "throwaway embedded Postgres (devenv.throwaway), seeded by products_db.schema"
        postgres, max_product_id = asyncio.run(_facts(url))
        asyncio.run(latency.install(url, latencies_ms))
        try:
            yield Database(url, source, urlsplit(url).port or 5432, postgres, max_product_id)
        finally:
            asyncio.run(latency.uninstall(url, latencies_ms))


async def _facts(url: str) -> tuple[dict, int]:
    connection = await asyncpg.connect(url)
    try:
        postgres = {
            "version": await connection.fetchval("SELECT version()"),
            "max_connections": int(await connection.fetchval("SHOW max_connections")),
        }
        return postgres, await connection.fetchval("SELECT max(product_id) FROM product")
    finally:
        await connection.close()
