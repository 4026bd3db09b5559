"""How long the shared counter waits before it tries the database again (counter_shared.py)."""

from __future__ import annotations

import asyncio
import random

FIRST_RETRY = 0.1  # seconds before the first retry after a failure; it doubles up to COUNTER_RETRY_MAX


class Backoff:
    """How long to wait before the next attempt to reach the database: 0.1 s, doubling up to a cap.

    Doubling spares a database that is struggling; the cap keeps the recovery quick once it is back;
    the jitter (each wait is between half and all of the delay) keeps the workers of every host from
    reconnecting in the same instant when Postgres comes back.
    """

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.delay = FIRST_RETRY
        self.failures = 0  # consecutive; 0 means the last attempt worked

    def reset(self) -> None:
        self.delay = FIRST_RETRY
        self.failures = 0

    async def wait(self) -> None:
        self.failures += 1
        delay = min(self.delay, self.cap)
        self.delay = delay * 2
        await asyncio.sleep(delay * (0.5 + random.random() / 2))
