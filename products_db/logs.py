"""One log format for every app: plain lines on stderr that say when, how bad, which module, which process, what."""

from __future__ import annotations

import logging
import logging.config
from typing import Any, NoReturn

# 2026-11-25 22:48:34,392 ERROR aiohttp_api.errors pid=4242: database unavailable: ...
# The pid tells apart the workers of one server, which all write to the same stderr.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s pid=%(process)d: %(message)s"

# The apps' own loggers report at INFO and up; every other library only its warnings
# and errors (aiohttp's access log, for one, would add a line per request).
APP_LOGGERS = ("aiohttp_api", "flask_api", "starlette_app", "async_api", "products_db")

# A logging.config.dictConfig dictionary; Django's settings extend it as their LOGGING. (Not named
# LOGGING_CONFIG: in a settings module, Django would take that name for a setting of its own.)
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "filters": {
        "one_line": {"()": "products_db.logs.OneLine"},
        "pool_failures": {"()": "products_db.outage.PoolFailures"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        **{name: {"level": "INFO"} for name in APP_LOGGERS},
        # While the database is down, asyncpg's pool retries its lost connections
        # (after 1, 2, 4 ... 60 s) and logs each failure with a whole traceback:
        # an outage's failures join its one line (products_db/outage.py), any other is one line.
        "asyncpg.pool": {"filters": ["pool_failures", "one_line"]},
        # psycopg's pool (Django's) warns of every broken connection it discards and
        # every failed attempt to open one: dozens of lines a second during an outage,
        # which the apps report as one line when it starts and one when it ends
        # (products_db/outage.py).
        "psycopg.pool": {"level": "ERROR"},
    },
}


class OneLine(logging.Filter):
    """Log an expected failure as one line: the message, then the error's first line instead of its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg, record.args = f"{record.getMessage()}: {one_line(record.exc_info[1])}", None
            record.exc_info = record.exc_text = None
        return True


# The line each server writes at WARNING for a request it cannot parse (a byte that is
# not ASCII in the path, a header line too long, garbage): the client's fault, which
# nobody running the server can act on, and a line for anyone who sends garbage.
CLIENT_FAULTS = {
    "gunicorn.error": "Invalid request from ip=",
    "uvicorn.error": "Invalid HTTP request received.",
}


class ClientFaultAtInfo(logging.Filter):
    """Lower a server's line about a request it could not parse from WARNING to INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        prefix = CLIENT_FAULTS.get(record.name)
        if record.levelno != logging.WARNING or prefix is None or not record.getMessage().startswith(prefix):
            return True
        record.levelno, record.levelname = logging.INFO, "INFO"
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)  # gone under --log-level warning


_CLIENT_FAULT_AT_INFO = ClientFaultAtInfo()


def client_faults_at_info() -> None:
    """Put ClientFaultAtInfo on the servers' own loggers (a logger's filters see what is logged on it)."""
    for name in CLIENT_FAULTS:
        logging.getLogger(name).addFilter(_CLIENT_FAULT_AT_INFO)  # once: addFilter skips a filter it has


def configure_logging() -> None:
    """Send log records to stderr in LOG_FORMAT, unless this process has configured logging already.

    gunicorn and uvicorn set up only their own loggers, so without this an app's
    records would reach Python's last-resort handler: the bare message, no time, no pid.
    """
    client_faults_at_info()
    if logging.getLogger().handlers:
        return  # a deployer's configuration (or a test runner's) wins
    logging.config.dictConfig(LOG_CONFIG)


def one_line(error: BaseException) -> str:
    """The first line of an error's message, or its type when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def startup_failed(log: logging.Logger, reason: BaseException | str) -> NoReturn:
    """Log why the app cannot start, as one line, and exit with code 3.

    A wrong setting or an unreachable database is not a bug: the line says what to
    fix, and a traceback from every worker would bury it. Exit code 3 is gunicorn's
    and uvicorn's "worker failed to boot": the server stops instead of starting
    new workers that would fail the same way.
    """
    configure_logging()
    log.error("%s", reason if isinstance(reason, str) else one_line(reason))
    raise SystemExit(3) from None
