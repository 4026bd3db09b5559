"""The added-latency knob: bench-only views that wait in pg_sleep, reached through a bench-only role.

A query on this machine costs CPU and almost no waiting, because Postgres sits on
the same box. In production the database is a network hop away and every query
waits. To model that without touching the teaching code, each latency gets:

- a schema ``lat20`` (for 20 ms) holding one view per real table, which returns
  the table's rows only after ``pg_sleep(0.020)``: the backend sleeps, it does not
  burn CPU, so the app waits exactly like it would for a slow network;
- a role ``bench_lat20`` whose ``search_path`` is ``lat20, public``, so the apps'
  unqualified ``FROM brand`` finds the view first.

The apps then only get another DATABASE_URL. Every driver (asyncpg, psycopg2,
Django) sees the same thing. Nothing is written in ``public``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

# Every table an endpoint reads. The delay sits in a MATERIALIZED CTE: Postgres
# evaluates it exactly once per query, whatever join order the planner picks
# (a plain cross join could rescan a volatile subquery once per row).
TABLES = ("brand", "product", "product_color", "product_size", "sku")

CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {schema}"
CREATE_VIEW = """
    CREATE OR REPLACE VIEW {schema}.{table} AS
    WITH delay AS MATERIALIZED (SELECT pg_sleep({seconds}))
    SELECT t.* FROM public.{table} AS t CROSS JOIN delay
"""
ROLE_EXISTS = "SELECT 1 FROM pg_roles WHERE rolname = $1"
CREATE_ROLE = "CREATE ROLE {role} LOGIN"
GRANTS = (
    "GRANT USAGE ON SCHEMA {schema}, public TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    "ALTER ROLE {role} SET search_path = {schema}, public",
)
DROP_SCHEMA = "DROP SCHEMA IF EXISTS {schema} CASCADE"
DROP_OWNED = "DROP OWNED BY {role}"
DROP_ROLE = "DROP ROLE IF EXISTS {role}"


def schema_name(latency_ms: int) -> str:
    return f"lat{latency_ms}"


def role_name(latency_ms: int) -> str:
    return f"bench_lat{latency_ms}"


def url_for(base_url: str, latency_ms: int) -> str:
    """The database URL the apps get for one latency: same server, the bench role instead of ours.

    0 ms is the untouched URL, so the baseline is exactly what the apps normally see.
    Authentication on the embedded servers is trust on loopback; a role on another
    server would need a password, which is why DATABASE_URL users get a note in the docs.
    """
    if latency_ms == 0:
        return base_url
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role_name(latency_ms)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def install(base_url: str, latencies_ms: list[int]) -> None:
    """Create (or refresh) the schema, views and role of every non-zero latency. Idempotent."""
    connection = await asyncpg.connect(base_url)
    try:
        for latency_ms in sorted(set(latencies_ms) - {0}):
            schema, role = schema_name(latency_ms), role_name(latency_ms)
            async with connection.transaction():
                await connection.execute(CREATE_SCHEMA.format(schema=schema))
                for table in TABLES:
                    await connection.execute(CREATE_VIEW.format(schema=schema, table=table, seconds=latency_ms / 1000))
                if not await connection.fetchval(ROLE_EXISTS, role):
                    await connection.execute(CREATE_ROLE.format(role=role))
                for grant in GRANTS:
                    await connection.execute(grant.format(schema=schema, role=role))
    finally:
        await connection.close()


async def uninstall(base_url: str, latencies_ms: list[int]) -> None:
    """Remove what install() created, so a long-lived database is left as it was."""
    connection = await asyncpg.connect(base_url)
    try:
        for latency_ms in sorted(set(latencies_ms) - {0}):
            await connection.execute(DROP_SCHEMA.format(schema=schema_name(latency_ms)))
            if await connection.fetchval(ROLE_EXISTS, role_name(latency_ms)):
                await connection.execute(DROP_OWNED.format(role=role_name(latency_ms)))
                await connection.execute(DROP_ROLE.format(role=role_name(latency_ms)))
    finally:
        await connection.close()
