"""The one place every app reads the database location and pool size from."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions

# The embedded server's fixed port: not 5432, so it never collides with a
# Postgres the user already runs.
EMBEDDED_PORT = 55432
EMBEDDED_URL = f"postgresql://postgres@127.0.0.1:{EMBEDDED_PORT}/products"

# How many connections one process keeps open. A connection runs one query at
# a time, so this is how many handlers of one process can await the database
# at once; the rest wait their turn in pool.acquire(). More connections than
# the database has cores only adds contention when the database is busy
# (PostgreSQL wiki, "Number Of Database Connections": about cores * 2), and
# every worker process opens its own pool, so keep it modest.
DEFAULT_POOL_SIZE = 10
# Seconds a request waits for a free connection before it is answered 503: under
# overload a prompt "try again later" beats a queue that only grows.
DEFAULT_ACQUIRE_TIMEOUT = 10.0
# Seconds one statement may run before Postgres cancels it (statement_timeout): a
# query stuck behind a lock must not hold its connection, and its client, for ever.
DEFAULT_STATEMENT_TIMEOUT = 30.0
# Seconds past DB_STATEMENT_TIMEOUT before a connection that answers nothing at all (one a
# network cut left silent) is given up on: by then Postgres would have answered, if only an error.
SILENCE_MARGIN = 2.0
# Seconds one attempt to open a connection may take: a database that does not answer at all
# (a host down, packets dropped) fails the attempt instead of holding it for TCP's minutes.
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    database_url: str
    pool_size: int = DEFAULT_POOL_SIZE
    acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=database_url(),
            pool_size=int(os.environ.get("DB_POOL_SIZE", DEFAULT_POOL_SIZE)),
            acquire_timeout=positive_setting("DB_ACQUIRE_TIMEOUT", DEFAULT_ACQUIRE_TIMEOUT),
            statement_timeout=positive_setting("DB_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT),
        )

    @property
    def statement_timeout_ms(self) -> str:
        """statement_timeout as Postgres takes it: whole milliseconds."""
        return str(round(self.statement_timeout * 1000))

    @property
    def silence_limit(self) -> float:
        """Seconds a query may get no answer at all before its client gives up on the connection."""
        return self.statement_timeout + SILENCE_MARGIN

    def libpq_time_limits(self) -> dict[str, str]:
        """libpq parameters (psycopg2, psycopg 3) that bound a connect, and a connection a network cut left silent.

        libpq puts no time limit on a query, and over a cut link the kernel retransmits for about
        fifteen minutes before it reports the loss; a sync worker waits all that time. TCP can tell
        sooner without touching a slow but healthy query, as Postgres' kernel acknowledges a busy
        server's packets all the same: tcp_user_timeout drops a connection whose bytes go
        unacknowledged for silence_limit, and keepalives probe one that has been quiet that long
        while waiting for an answer (the first probe left unanswered ends it).
        """
        seconds = math.ceil(self.silence_limit)
        return {
            "connect_timeout": str(round(CONNECT_TIMEOUT)),
            "tcp_user_timeout": str(round(self.silence_limit * 1000)),
            "keepalives": "1",
            "keepalives_idle": str(seconds),
            "keepalives_interval": "1",
            "keepalives_count": "1",
        }


def positive_setting(variable: str, default: float, kind: type[int] | type[float] = float) -> Any:
    """A positive int or float from the environment; anything else is a ConfigError naming the variable."""
    raw = os.environ.get(variable, str(default))
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not 0 < value < float("inf"):
        what = "integer" if kind is int else "number"
        raise ConfigError(f"{variable} must be a positive {what}, got {raw!r}")
    return value


def database_url() -> str:
    """DATABASE_URL if set, else the embedded server that `make db` starts."""
    return os.environ.get("DATABASE_URL") or EMBEDDED_URL


class ConfigError(ValueError):
    """A setting cannot be used as given; str() is one line saying which and why."""


def connect_params(url: str) -> dict[str, str]:
    """Every libpq connection parameter a postgresql:// URL holds, its query string included.

    For psycopg2 and Django, which take keywords: `?sslmode=require`, `?application_name=...`,
    `?options=-c statement_timeout=5000` or a unix socket folder `?host=/run/postgresql` come
    through as they are (asyncpg reads the URL itself). libpq's own parser does the work, so
    a URL means here what it means to psql; a parameter it does not know is an error.
    """
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"DATABASE_URL must start with postgresql://, got {redact(url)!r}")
    try:
        return psycopg2.extensions.parse_dsn(url)
    except psycopg2.ProgrammingError as error:
        reason = str(error).strip().removeprefix("invalid dsn: ")
        password = urlsplit(url).password
        reason = reason.replace(password, "***") if password else reason  # libpq may quote the bad part
        raise ConfigError(f"DATABASE_URL {redact(url)} is not a connection URL libpq accepts: {reason}") from None


def redact(url: str) -> str:
    """The URL with its password hidden, safe to print in an error message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def unreachable_message(url: str, error: BaseException) -> str:
    """One line that says what failed and what to do about it."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = "start it with `make db`" if url == EMBEDDED_URL else "check DATABASE_URL"
    return f"cannot use the database at {redact(url)}: {reason} ({hint})"


class DatabaseUnavailable(ConnectionError):
    """No connection to the database could be opened; str() is unreachable_message(): why, and what to do.

    A ConnectionError, so an error layer that meets it in a request answers 503 like any
    other outage (outage.py); at start-up each app turns it into one log line and exit code 3.
    """
