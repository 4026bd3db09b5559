"""The SQL of the API on psycopg2, and a connection pool that belongs to one worker process."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from products_db.config import Settings, connect_params, unreachable_message
from products_db.health import PING
from products_db.rules import NewProduct, ProductNotFound, UnknownBrand

log = logging.getLogger(__name__)

SELECT_BRANDS = "SELECT brand_id, brand_name FROM brand ORDER BY brand_id"
SELECT_PRODUCT = "SELECT product_id, product_name, brand_id FROM product WHERE product_id = %s"
INSERT_PRODUCT = """
    INSERT INTO product (product_name, brand_id) VALUES (%s, %s)
    RETURNING product_id, product_name, brand_id
"""

Connection = psycopg2.extensions.connection
EXTENSION = "flask_api.database"  # key in app.extensions


class DatabaseUnavailable(RuntimeError):
    """The pool could not open a connection; str() is one line saying why and what to do."""


class Database:
    """A psycopg2 pool opened lazily, once per process, and reopened in any process forked after it.

    The book opens one connection at import. That works under plain
    `gunicorn -w 8` only because gunicorn imports the app in each worker after
    forking; with `--preload` the master imports it first and all 8 workers
    share one socket, their queries and answers interleaving on the wire. With
    `--threads`, requests share one transaction; after any failed statement the
    connection stays aborted for every later request, and a dropped one is never
    replaced. Here nothing connects until a worker serves its first request, and
    the pid check opens a new pool in any process forked after that.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._pid = 0
        self._lock = threading.Lock()  # gunicorn --threads: two threads could open two pools
        # psycopg2's pool raises PoolError when every connection is out instead
        # of waiting; this makes a thread wait its turn, as asyncpg's acquire() does.
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._inherited: list[psycopg2.pool.ThreadedConnectionPool] = []
        self._last_error = ""

    def _open(self) -> psycopg2.pool.ThreadedConnectionPool:
        try:
            # Threaded, because `gunicorn --threads N` runs N requests of one
            # process at once; with the default sync worker it never holds more
            # than one connection. minconn=1 connects now, so a wrong URL fails here.
            pool = psycopg2.pool.ThreadedConnectionPool(
                1,
                self.settings.pool_size,
                # Our defaults first, so whatever DATABASE_URL sets wins. The
                # application_name shows in pg_stat_activity which worker holds which connection.
                **{
                    "connect_timeout": 10,
                    "application_name": f"flask_api pid {os.getpid()}",
                    **connect_params(self.settings.database_url),
                },
            )
        except psycopg2.Error as error:
            message = unreachable_message(self.settings.database_url, error)
            if message != self._last_error:  # one line when it starts failing, not one per request
                log.error("%s", message)
                self._last_error = message
            raise DatabaseUnavailable(message) from None
        self._last_error = ""
        # psycopg2 keeps at most `minconn` idle connections and closes any other
        # connection handed back, so under --threads most requests would connect
        # anew. Raised after construction, it keeps every connection once opened
        # while still opening them only when threads need them.
        pool.minconn = self.settings.pool_size
        return pool

    def pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                if self._pool is not None:
                    # Opened by the parent: its sockets belong to the parent. Closing
                    # them here would log the parent out of Postgres, so keep the
                    # objects alive and untouched, and open our own.
                    self._inherited.append(self._pool)
                self._pool = self._open()
                self._pid = os.getpid()
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection: committed and returned on success, rolled back and returned on any error."""
        pool = self.pool()
        with self._slots:
            connection = pool.getconn()
            try:
                yield connection
                connection.commit()
            except BaseException:
                # A failed statement leaves the transaction aborted; without the
                # rollback the next request to borrow this connection would fail too.
                # A connection that died (server restart) is dropped, not reused.
                broken = bool(connection.closed)
                if not broken:
                    try:
                        connection.rollback()
                    except psycopg2.Error:
                        broken = True
                pool.putconn(connection, close=broken)
                raise
            pool.putconn(connection)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.closeall()
            self._pool = None


def _fetch(connection: Connection, sql: str, *args: object) -> list[dict[str, Any]]:
    with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        # A blocking call: this worker does nothing else until Postgres answers.
        # That is why the book needs 8 processes where aiohttp needs one.
        cursor.execute(sql, args or None)
        return [dict(row) for row in cursor.fetchall()]


def brands(database: Database) -> list[dict[str, Any]]:
    with database.connection() as connection:
        return _fetch(connection, SELECT_BRANDS)


def product(database: Database, product_id: int) -> dict[str, Any]:
    with database.connection() as connection:
        rows = _fetch(connection, SELECT_PRODUCT, product_id)
    if not rows:
        raise ProductNotFound(product_id)
    return rows[0]


def create_product(database: Database, new: NewProduct) -> dict[str, Any]:
    # As in aiohttp_api: the foreign key decides whether the brand exists, atomically.
    try:
        with database.connection() as connection:
            [row] = _fetch(connection, INSERT_PRODUCT, new.product_name, new.brand_id)
    except psycopg2.errors.ForeignKeyViolation:
        raise UnknownBrand(new.brand_id) from None
    return row


def ping(database: Database) -> None:
    """/readyz: one round trip through this worker's pool (a dead connection is replaced, as for any request)."""
    with database.connection() as connection, connection.cursor() as cursor:
        # psycopg2 blocks with no time limit of its own: a database that went
        # away fails at once, one that hangs holds this worker (connect_timeout bounds a new connection).
        cursor.execute(PING)
