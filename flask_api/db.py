"""Listing 9.5's queries on psycopg2, with a small pool per gunicorn worker instead of one connection at import."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2.extras import RealDictCursor

from products_db.config import DatabaseUnavailable, Settings, connect_params, unreachable_message
from products_db.health import PING
from products_db.outage import OUTAGE
from products_db.rules import NewProduct, ProductNotFound, UnknownBrand

# Postgres writes the JSON array itself (json_agg, in C) and sends it as one text
# value: no tuple, dict and json.dumps call per row in Python, on every request.
SELECT_BRANDS_JSON = """
    SELECT coalesce(json_agg(b ORDER BY b.brand_id), '[]')::text
    FROM (SELECT brand_id, brand_name FROM brand) AS b
"""
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
        return cursor.fetchone()[0]


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
            return cursor.fetchone()
    except psycopg2.errors.ForeignKeyViolation:
        raise UnknownBrand(new.brand_id) from None


def ping(database: Database) -> None:
    """/readyz: one round trip through this worker's pool (a dead connection is replaced, as for any request)."""
    with database.connection() as connection, connection.cursor() as cursor:
        # psycopg2 blocks with no time limit of its own: a database that went
        # away fails at once, one that hangs holds this worker (connect_timeout bounds a new connection).
        cursor.execute(PING)


# Below, the machinery: prepared statements, and the pool that lends connections.

# psycopg2 sends a query's whole text every time, and Postgres parses and plans
# it again (asyncpg prepares each query once per connection by itself). So each
# connection prepares a statement the first time it runs it, and then runs it by name.
STATEMENTS = {"brands_json": SELECT_BRANDS_JSON, "product": SELECT_PRODUCT, "insert_product": INSERT_PRODUCT}


def execute(cursor: psycopg2.extensions.cursor, name: str, *args: object) -> None:
    if name not in cursor.connection.prepared:
        cursor.execute(f"PREPARE {name} AS {STATEMENTS[name]}")
        cursor.connection.prepared.add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(args))})" if args else f"EXECUTE {name}", args)


class Connection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers which STATEMENTS it has prepared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: set[str] = set()


EXTENSION = "flask_api.database"  # key in app.extensions


class Database:
    """This worker process's connections: opened on its first requests, after gunicorn's fork, then reused.

    Never at import: with `--preload` the master imports the app, and every worker
    would share its socket. A pool, not one connection: `--threads N` runs N requests at once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._start_empty()
        # A forked child starts with an empty pool of its own: it must never use
        # its parent's connections, nor close them (close() sends Postgres a
        # Terminate on the parent's socket). Dropping them is safe: psycopg2
        # closes a connection it garbage-collects only in the process that opened it.
        os.register_at_fork(after_in_child=self._start_empty)

    def _start_empty(self) -> None:
        self._idle: list[Connection] = []
        # Under --threads, a request past pool_size waits here for a connection to come back.
        self._slots = threading.BoundedSemaphore(self.settings.pool_size)

    def _connect(self) -> Connection:
        # pg_stat_activity shows which worker holds which connection; DATABASE_URL's parameters win over ours.
        ours = {"connect_timeout": 10, "application_name": f"flask_api pid {os.getpid()}"}
        try:
            connection = psycopg2.connect(
                connection_factory=Connection, **{**ours, **connect_params(self.settings.database_url)}
            )
        except psycopg2.Error as error:
            raise DatabaseUnavailable(unreachable_message(self.settings.database_url, error)) from None
        # Each statement commits on its own, as with asyncpg: one round trip per
        # request, where psycopg2's default adds a BEGIN and a COMMIT around it.
        connection.autocommit = True
        return connection

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection for one statement; a connection the server dropped is not handed out again."""
        started_in = OUTAGE.outages
        with self._slots:
            try:
                connection = self._idle.pop()  # list.pop and append are atomic: the semaphore is the only lock
            except IndexError:
                connection = self._connect()
            try:
                yield connection
            finally:
                if not connection.closed:
                    self._idle.append(connection)
            OUTAGE.succeeded(started_in)  # the statement went through: ends an outage, if one is on

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
