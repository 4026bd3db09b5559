"""Listing 9.11's work: N concurrent GETs to one URL with one aiohttp session, failures kept apart from successes."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from .loops import LoopInfo, running_loop_info
from .outbound import PolicyResolver, ReadBudget, failure_reason

if TYPE_CHECKING:
    from .params import Limits


def since(origin: float) -> float:
    """Milliseconds from origin on a monotonic clock. (The book's timedelta.microseconds is only
    the sub-second part, so a 1.2 s request showed as 200 000 "microseconds".)"""
    return (time.perf_counter() - origin) * 1000


@dataclass(frozen=True)
class Success:
    status: int
    sent_ms: float  # since the batch started
    answered_ms: float
    body_length: int

    @property
    def time_ms(self) -> float:
        return self.answered_ms - self.sent_ms


class Failure(Exception):
    """A request that raised: why, and when it was sent and gave up, so the timeline can draw it too."""

    def __init__(self, reason: str, sent_ms: float, answered_ms: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent_ms = sent_ms
        self.answered_ms = answered_ms

    @property
    def time_ms(self) -> float:
        return self.answered_ms - self.sent_ms


@dataclass(frozen=True)
class Batch:
    url: str
    request_num: int
    successes: list[Success]
    failures: list[Failure]
    wall_ms: float
    loop: LoopInfo
    summary: dict[str, float] = field(default_factory=dict)

    @property
    def serial_ms(self) -> float:
        """What the batch would take with each request sent only after the one before it had finished."""
        results: list[Success | Failure] = [*self.successes, *self.failures]
        return sum(result.time_ms for result in results)


async def get_url_details(session: aiohttp.ClientSession, url: str, origin: float, budget: ReadBudget) -> Success:
    sent_ms = since(origin)
    response = None  # set once the status line and headers have arrived
    try:
        # allow_redirects=False: a redirect is an answer like any other, listed with its status.
        # Following it would send the next request to a URL the visitor never had checked
        # (a 302 to http://127.0.0.1:5432/ from an allowed host, say).
        async with session.get(url, allow_redirects=False) as response:
            # Count the body as it streams in rather than holding it: a hundred copies
            # of a large page would otherwise sit in memory at once. Leaving the block
            # early closes the connection, so the rest of a huge answer is never read.
            budget.check_declared(response.content_length)
            body_length = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                body_length += len(chunk)
                budget.take(len(chunk), body_length)
    except Exception as error:
        reason = failure_reason(error, answered=response is not None, timeout=session.timeout.total)
        raise Failure(reason, sent_ms, since(origin)) from error
    return Success(response.status, sent_ms, since(origin), body_length)


async def make_requests(url: str, request_num: int, limits: Limits) -> Batch:
    # One session, one connection pool for the whole batch. Its limit is the
    # batch size, so all requests are in flight at once rather than queued, and
    # the batch takes no longer than one request's timeout. Its resolver connects
    # only to addresses the policy allows (outbound.py).
    connector = aiohttp.TCPConnector(limit=request_num, resolver=PolicyResolver(limits.target_policy))
    client_timeout = aiohttp.ClientTimeout(total=limits.request_timeout)
    budget = ReadBudget(limits.max_response_bytes, limits.max_batch_bytes)  # bytes per answer, per batch (outbound.py)
    origin = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        requests = [get_url_details(session, url, origin, budget) for _ in range(request_num)]
        # return_exceptions=True: one failed request becomes a row in the page
        # instead of cancelling the whole batch.
        results = await asyncio.gather(*requests, return_exceptions=True)
    wall_ms = since(origin)
    successes = [result for result in results if isinstance(result, Success)]
    failures = [result for result in results if isinstance(result, Failure)]
    return Batch(
        url=url,
        request_num=request_num,
        successes=successes,
        failures=failures,
        wall_ms=wall_ms,
        loop=running_loop_info(),  # which event loop and thread ran the batch (loops.py)
        summary=summarize(successes),
    )


def summarize(successes: list[Success]) -> dict[str, float]:
    times = [success.time_ms for success in successes]
    if not times:
        return {}
    return {"min_ms": min(times), "median_ms": statistics.median(times), "max_ms": max(times)}
