"""Each gunicorn worker's connections: psycopg2's own pool, opened on first use, at most DB_POOL_SIZE.

A reader of listing 9.5 can skip this file: `with database.connection() as connection` is all db.py needs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg2
import psycopg2.extensions
from psycopg2.pool import ThreadedConnectionPool

from products_db.config import DatabaseUnavailable, Settings, connect_params, unreachable_message
from products_db.outage import OUTAGE

EXTENSION = "flask_api.database"  # key in app.extensions


class Connection(psycopg2.extensions.connection):
    """Each connection the pool opens: autocommit, as asyncpg (one round trip a statement, no BEGIN and COMMIT)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.autocommit = True
        self.prepared: set[str] = set()  # names db.execute() has prepared on this connection


class Database:
    """This process's pool, empty until its first requests: with `--preload` a connection opened at import would
    be shared by every worker. A pool, not one connection: `--threads N` runs N requests at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._start_empty()
        # A forked child starts with an empty pool of its own: it must never use its parent's
        # connections, nor close them (close() sends Postgres a Terminate on the parent's socket).
        # Dropping them is safe: psycopg2 closes a connection it garbage-collects only in the
        # process that opened it. psycopg2's pool knows nothing of fork.
        os.register_at_fork(after_in_child=self._start_empty)

    def _start_empty(self) -> None:
        size = self.settings.pool_size
        # pg_stat_activity shows which worker holds which connection; DATABASE_URL's parameters win over ours.
        ours = {
            "application_name": f"flask_api pid {os.getpid()}",
            "options": f"-c statement_timeout={self.settings.statement_timeout_ms}",  # Postgres cancels a longer one
            # A connect with no answer fails after 10 s, a connection gone silent soon after statement_timeout.
            **self.settings.libpq_time_limits(),
        }
        params = {**ours, **connect_params(self.settings.database_url)}
        # minconn 0: nothing opens now. Then minconn = size, because psycopg2 closes every
        # connection handed back beyond minconn: under --threads most requests would connect anew.
        self._pool = ThreadedConnectionPool(0, size, connection_factory=Connection, **params)
        self._pool.minconn = size
        # psycopg2's pool raises PoolError when every connection is lent: a thread waits here instead.
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection for one statement; psycopg2 drops one the server closed when it comes back."""
        started_in = OUTAGE.outages
        if not self._slots.acquire(timeout=self.settings.acquire_timeout):
            # Answered 503 by the error layer, like an outage: "try again later".
            raise TimeoutError(f"no database connection free within {self.settings.acquire_timeout:g} s")
        try:
            try:
                connection = cast(Connection, self._pool.getconn())  # made by connection_factory
            except psycopg2.OperationalError as error:
                raise DatabaseUnavailable(unreachable_message(self.settings.database_url, error)) from None
            try:
                yield connection
            finally:
                self._pool.putconn(connection)
            OUTAGE.succeeded(started_in)  # the statement went through: ends an outage, if one is on
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.closeall()
