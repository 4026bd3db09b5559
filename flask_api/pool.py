"""The pool behind listing 9.5: each gunicorn worker's own connections, opened on first use, at most DB_POOL_SIZE."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions

from products_db.config import DatabaseUnavailable, Settings, connect_params, unreachable_message
from products_db.outage import OUTAGE


class Connection(psycopg2.extensions.connection):
    """A psycopg2 connection that remembers which statements it has prepared (db.execute)."""

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
        ours = {
            "application_name": f"flask_api pid {os.getpid()}",
            "options": f"-c statement_timeout={self.settings.statement_timeout_ms}",  # Postgres cancels a longer one
            # A connect with no answer fails after 10 s, a connection gone silent soon after statement_timeout.
            **self.settings.libpq_time_limits(),
        }
        params: dict[str, Any] = {**ours, **connect_params(self.settings.database_url)}
        try:
            connection = psycopg2.connect(connection_factory=Connection, **params)
        except psycopg2.Error as error:
            raise DatabaseUnavailable(unreachable_message(self.settings.database_url, error)) from None
        # Each statement commits on its own, as with asyncpg: one round trip per
        # request, where psycopg2's default adds a BEGIN and a COMMIT around it.
        # Every handler runs a single statement, so nothing needs a longer transaction.
        connection.autocommit = True
        return connection

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection for one statement; a connection the server dropped is not handed out again."""
        started_in = OUTAGE.outages
        if not self._slots.acquire(timeout=self.settings.acquire_timeout):
            # Answered 503 by the error layer, like an outage: "try again later".
            raise TimeoutError(f"no database connection free within {self.settings.acquire_timeout:g} s")
        try:
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
        finally:
            self._slots.release()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
