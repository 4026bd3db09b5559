"""Is this error "the database is unavailable"? And one log line when an outage starts, one when it ends, per process.

Every app asks the same two questions whatever its driver (asyncpg, psycopg2,
psycopg 3 through Django), so they are answered here, by category rather than by
a list of exception classes per app.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from .logs import one_line

log = logging.getLogger(__name__)

# SQLSTATE classes that say "not now" rather than "wrong query": 08 connection
# exception, 53 insufficient resources (too many connections, disk full), 57
# operator intervention (administrator shutdown, "the database system is
# starting up", "... is shutting down", a cancelled statement).
UNAVAILABLE_CLASSES = ("08", "53", "57")

# Per driver, the errors raised on the client's side of a connection that broke
# or never opened (no SQLSTATE: the server never answered). Looked up only in
# drivers this process has imported, so Flask never loads asyncpg.
CLIENT_SIDE_ERRORS = {
    # "cannot perform operation: another operation is in progress", "connection was closed in the middle of operation"
    "asyncpg": ("InterfaceError", "InternalClientError"),
    "psycopg2": ("OperationalError", "InterfaceError"),  # "server closed the connection unexpectedly"
    "psycopg": ("OperationalError", "InterfaceError"),  # psycopg 3, pool timeout included
    "django.db": ("OperationalError", "InterfaceError"),  # psycopg 3's errors as Django raises them
}


def _driver_errors() -> tuple[type[BaseException], ...]:
    modules = ((sys.modules.get(module), names) for module, names in CLIENT_SIDE_ERRORS.items())
    return tuple(getattr(module, name) for module, names in modules if module is not None for name in names)


def sqlstate(error: BaseException) -> str | None:
    """The Postgres error code: asyncpg and psycopg 3 call it sqlstate, psycopg2 pgcode."""
    return getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)


def database_unavailable(error: BaseException) -> bool:
    """True for an error that a retry later can cure: the network, a timeout, a database stopping or starting."""
    # A wrapper (Django's, for one) keeps the driver's error as its cause.
    seen: BaseException | None = error
    while seen is not None:
        code = sqlstate(seen)
        if code is not None:
            return code[:2] in UNAVAILABLE_CLASSES  # the server said why: trust its class
        # OSError covers ConnectionError (refused, reset); TimeoutError a connect,
        # an acquire or a /readyz ping that took too long.
        if isinstance(seen, (OSError, TimeoutError, *_driver_errors())):
            return True
        seen = seen.__cause__
    return False


# While Postgres stops, its backends exit one by one: one not gone yet may answer a query a few
# milliseconds after another was cut (tens of them on a busy machine). A success that soon says nothing
# about the database being back, and would make the log flap: it does not end the outage.
SETTLING = 1.0  # seconds


class Outage:
    """This process's view of the database: up, or down since when and how many requests refused since.

    Under load every request of an outage fails the same way; a line (worse, a
    traceback) per request writes megabytes that say nothing new. So the first
    failure logs one line, the first success after it (and at least SETTLING
    seconds after it) one more, and the requests in between are counted. The hot
    path of a healthy server reads two attributes.
    """

    def __init__(self) -> None:
        self.down = False
        # Counts outages. A query notes it when it starts: one that started before
        # the current outage and still went through (it was in flight when Postgres
        # began to stop) says nothing about the database being back.
        self.outages = 0
        self._since = 0.0
        self._refused = 0
        # Flask's threads (--threads) and Django's ORM threads report too; asyncio
        # apps never switch inside these methods, where the lock costs nothing.
        self._lock = threading.Lock()

    def failed(self, error: BaseException, refused: int = 0) -> None:
        """The database failed in a way a retry later can cure: starts an outage (and logs it) unless one is on."""
        with self._lock:
            if not self.down:
                self.down, self.outages, self._since, self._refused = True, self.outages + 1, time.monotonic(), 0
                log.error("database unavailable: %s", one_line(error))
            self._refused += refused

    def refused(self, error: BaseException) -> None:
        """A request was answered 503 because of `error`."""
        self.failed(error, refused=1)

    def succeeded(self, started_in: int) -> None:
        """A query that started when `outages` was `started_in` went through; ends the outage it started in."""
        if not self.down:
            return
        with self._lock:
            seconds = time.monotonic() - self._since
            if self.down and started_in == self.outages and seconds >= SETTLING:
                self.down = False
                log.warning("database available again after %.1f s, %d requests refused", seconds, self._refused)


# One per process: each gunicorn or uvicorn worker notices (and logs) an outage on its own.
OUTAGE = Outage()


class PoolFailures(logging.Filter):
    """For a pool's logger: its failures to reconnect start an outage instead of each logging a line.

    asyncpg's pool retries a lost connection after 1, 2, 4 ... 60 s and logs every
    failure, in each process, even with no request arriving.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and database_unavailable(error):
            OUTAGE.failed(error)
            return False
        return True
