"""The counter's settings, read once from the environment (COUNTER_*), and the counter the lifespan opens with them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import asyncpg

from products_db.config import ConfigError, positive_setting

from .counter import Counter
from .counter_guard import WebSocketGuard, parse_origins
from .counter_shared import SharedCount

MODES = ("memory", "postgres")


@dataclass(frozen=True)
class CounterSettings:
    """COUNTER_MODE picks where the count lives; the rest tune the shared mode and the broadcast."""

    # memory: each process counts its own clients, as in the book; right with one worker only.
    # postgres: every worker and host shares one exact count through the database.
    mode: Literal["memory", "postgres"] = "memory"
    heartbeat: float = 1.0  # COUNTER_HEARTBEAT: seconds between a worker's liveness updates
    expiry: float = 5.0  # COUNTER_EXPIRY: a worker silent this long no longer counts
    send_timeout: float = 1.0  # COUNTER_SEND_TIMEOUT: a client that takes longer to accept a send is dropped
    retry_max: float = 2.0  # COUNTER_RETRY_MAX: longest wait between two attempts to reach the database
    max_message: int = 1024  # COUNTER_MAX_MESSAGE: bytes; a bigger message from a client closes it (1009)
    allowed_origins: frozenset[str] = frozenset()  # COUNTER_ALLOWED_ORIGINS: other sites whose pages may connect

    @classmethod
    def from_env(cls) -> CounterSettings:
        """Every COUNTER_* variable, checked: a wrong one is a ConfigError naming it (one log line, exit code 3)."""
        mode = os.environ.get("COUNTER_MODE", "memory")
        if mode not in MODES:
            raise ConfigError(f"COUNTER_MODE must be one of {', '.join(MODES)}, got {mode!r}")
        max_message = os.environ.get("COUNTER_MAX_MESSAGE", str(cls.max_message))
        if not max_message.isdigit():
            raise ConfigError(f"COUNTER_MAX_MESSAGE must be a whole number of bytes, zero or more, got {max_message!r}")
        try:
            allowed_origins = parse_origins(os.environ.get("COUNTER_ALLOWED_ORIGINS", ""))
        except ValueError as error:
            raise ConfigError(str(error)) from None
        settings = cls(
            mode=mode,  # type: ignore[arg-type]
            heartbeat=positive_setting("COUNTER_HEARTBEAT", cls.heartbeat),
            expiry=positive_setting("COUNTER_EXPIRY", cls.expiry),
            send_timeout=positive_setting("COUNTER_SEND_TIMEOUT", cls.send_timeout),
            retry_max=positive_setting("COUNTER_RETRY_MAX", cls.retry_max),
            max_message=int(max_message),
            allowed_origins=allowed_origins,
        )
        if settings.heartbeat >= settings.expiry:
            raise ConfigError("COUNTER_HEARTBEAT must be shorter than COUNTER_EXPIRY")
        return settings

    @property
    def guard(self) -> WebSocketGuard:
        return WebSocketGuard(self.allowed_origins, self.max_message)


@asynccontextmanager
async def open_counter(settings: CounterSettings, pool: asyncpg.Pool, database_url: str) -> AsyncIterator[Counter]:
    """The lifespan's counter (app.py): this process's clients and their broadcast task, for the app's life.

    COUNTER_MODE=memory is the book's counter alone (counter.py): it never touches the pool, so it
    counts while the database is down. COUNTER_MODE=postgres adds the count shared by every worker
    and host (counter_shared.py), which takes over what each change publishes.
    """
    counter = Counter(settings.send_timeout)
    async with counter.running():
        if settings.mode == "memory":
            yield counter
            return
        shared = SharedCount(counter, pool, database_url, settings.heartbeat, settings.expiry, settings.retry_max)
        async with shared.running():
            yield counter
