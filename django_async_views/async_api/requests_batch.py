"""Listing 9.11's work: N concurrent GETs to one URL with one aiohttp session, failures kept apart from successes."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import aiohttp

from .loops import LoopInfo, running_loop_info


@dataclass(frozen=True)
class Success:
    status: int
    time_ms: float
    body_length: int


@dataclass(frozen=True)
class Batch:
    url: str
    request_num: int
    successes: list[Success]
    failures: list[str]
    wall_ms: float
    loop: LoopInfo
    summary: dict[str, float] = field(default_factory=dict)


async def get_url_details(session: aiohttp.ClientSession, url: str) -> Success:
    # A monotonic clock in milliseconds: the book's timedelta.microseconds is only
    # the sub-second part, so a 1.2 s request showed as 200 000 "microseconds".
    start = time.perf_counter()
    async with session.get(url) as response:
        # Count the body as it streams in rather than holding it: a hundred copies
        # of a large page would otherwise sit in memory at once.
        body_length = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            body_length += len(chunk)
    return Success(response.status, (time.perf_counter() - start) * 1000, body_length)


def describe_failure(error: BaseException, timeout: float) -> str:
    """One readable line per exception; some (a timeout) have an empty message."""
    if isinstance(error, asyncio.TimeoutError):
        return f"TimeoutError: no complete answer within {timeout:g} s"
    message = str(error) or repr(error)
    return f"{type(error).__name__}: {message}"


async def make_requests(url: str, request_num: int, request_timeout: float) -> Batch:
    # One session, one connection pool for the whole batch. Its limit is the
    # batch size, so all requests are in flight at once rather than queued.
    connector = aiohttp.TCPConnector(limit=request_num)
    client_timeout = aiohttp.ClientTimeout(total=request_timeout)
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        requests = [get_url_details(session, url) for _ in range(request_num)]
        # return_exceptions=True: one failed request becomes a row in the page
        # instead of cancelling the whole batch.
        results = await asyncio.gather(*requests, return_exceptions=True)
    wall_ms = (time.perf_counter() - start) * 1000
    successes = [result for result in results if isinstance(result, Success)]
    failures = [describe_failure(result, request_timeout) for result in results if isinstance(result, BaseException)]
    return Batch(
        url=url,
        request_num=request_num,
        successes=successes,
        failures=failures,
        wall_ms=wall_ms,
        loop=running_loop_info(),
        summary=summarize(successes),
    )


def summarize(successes: list[Success]) -> dict[str, float]:
    times = [success.time_ms for success in successes]
    if not times:
        return {}
    return {"min_ms": min(times), "median_ms": statistics.median(times), "max_ms": max(times)}
