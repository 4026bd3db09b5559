"""The shared counter's table: one row per worker, and the SQL the shared mode runs on it."""

from __future__ import annotations

import asyncpg

# Why one row per worker with a heartbeat, rather than one shared number that every connect
# increments and every disconnect decrements: a worker killed with SIGKILL (or a host that loses
# power or network) never runs its decrements, so a shared number would count its clients forever.
# Each worker instead owns a row holding its own count and refreshes the row's heartbeat every
# COUNTER_HEARTBEAT seconds; the total only sums rows refreshed within COUNTER_EXPIRY seconds, so a
# dead worker's clients stop counting after at most that long. Heartbeats use the database's clock
# (now()), so hosts whose clocks disagree still agree on what is fresh.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS counter_worker (
    worker_id   uuid PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    connections integer NOT NULL CHECK (connections >= 0),
    heartbeat   timestamptz NOT NULL
)
"""
# Several workers start at once, and concurrent CREATE TABLE IF NOT EXISTS can still collide in
# the catalog; a transaction-scoped advisory lock makes them take turns.
SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('counter_worker'))"

UPSERT_WORKER = """
INSERT INTO counter_worker (worker_id, host, pid, connections, heartbeat)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (worker_id) DO UPDATE SET connections = excluded.connections, heartbeat = now()
"""
# Tell every worker (this one included) that the total may have changed; delivered on commit.
NOTIFY = "SELECT pg_notify('counter_changed', '')"
CHANNEL = "counter_changed"
# The other workers' clients, from their fresh rows. A worker adds its own clients as it counts them now,
# never as its row says: the row can lag behind them (a write that failed and waits for its retry), and
# a total read back with it would step back below a number the clients were already told.
OTHERS = """
SELECT coalesce(sum(connections), 0)::int
FROM counter_worker WHERE heartbeat >= now() - make_interval(secs => $1) AND worker_id <> $2
"""
# Only the write loop sets connections, so an older count can never overwrite a newer one.
TOUCH_WORKER = "UPDATE counter_worker SET heartbeat = now() WHERE worker_id = $1"
DELETE_EXPIRED = "DELETE FROM counter_worker WHERE heartbeat < now() - make_interval(secs => $1)"
DELETE_WORKER = "DELETE FROM counter_worker WHERE worker_id = $1"


async def create_table(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(SCHEMA_LOCK)
        await connection.execute(CREATE_TABLE)
