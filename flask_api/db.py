"""Listing 9.5's queries on psycopg2, with a small pool per gunicorn worker instead of one connection at import."""

from __future__ import annotations

import os
import queue
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

# psycopg2 sends a query's whole text every time, and Postgres parses and plans
# it again (asyncpg prepares each query once per connection by itself). So each
# connection prepares a statement the first time it runs it, and then runs it by name.
STATEMENTS = {"brands_json": SELECT_BRANDS_JSON, "product": SELECT_PRODUCT, "insert_product": INSERT_PRODUCT}


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


# The machinery below: how a connection is made, prepared, lent and handed back.


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
    """The connections of one worker process: opened on first use, then reused.

    The book connects at import, which gunicorn does in each worker after the
    fork, so every worker has a socket of its own. Opening on first use keeps
    that true with `--preload` too (the master imports the app but never serves),
    and a pool rather than one connection serves `--threads N`, whose threads
    would otherwise share one connection's answers.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        # At most pool_size requests of this process hold a connection; under
        # --threads the others block here until one is handed back.
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        os.register_at_fork(after_in_child=self._forget_parent_connections)

    def _connect(self) -> Connection:
        try:
            connection = psycopg2.connect(
                connection_factory=Connection,
                # Our defaults first, so whatever DATABASE_URL sets wins. The
                # application_name shows in pg_stat_activity which worker holds which connection.
                **{
                    "connect_timeout": 10,
                    "application_name": f"flask_api pid {os.getpid()}",
                    **connect_params(self.settings.database_url),
                },
            )
        except psycopg2.Error as error:
            raise DatabaseUnavailable(unreachable_message(self.settings.database_url, error)) from None
        # Each statement commits on its own, as with asyncpg: one round trip per
        # query, where psycopg2's default adds a BEGIN and a COMMIT around it.
        # Every handler runs a single statement, so nothing needs a longer transaction.
        connection.autocommit = True
        return connection

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection for one statement; a connection the server dropped is not handed out again."""
        started_in = OUTAGE.outages
        with self._slots:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                connection = self._connect()
            try:
                yield connection
            finally:
                if not connection.closed:
                    self._idle.put(connection)
            # Reached only when the statement went through: if an outage was on,
            # it is over (one boolean read otherwise).
            OUTAGE.succeeded(started_in)

    def _forget_parent_connections(self) -> None:
        # A forked child shares its parent's sockets. Pointing each at /dev/null
        # first means the goodbye psycopg2 sends when the object is dropped goes
        # nowhere, instead of logging the parent out of Postgres.
        devnull = os.open(os.devnull, os.O_RDWR)
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            os.dup2(devnull, connection.fileno())
        os.close(devnull)
        self._slots = threading.BoundedSemaphore(self.settings.pool_size)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()
