"""Listing 9.14's work: blocking sleeps run through sync_to_async, recording the thread each one ran on."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass
from functools import partial

from asgiref.sync import sync_to_async

from .loops import running_loop_info


@dataclass(frozen=True)
class Call:
    thread: str
    thread_id: int
    started_ms: float  # since the view started
    finished_ms: float


def sleep(seconds: float, origin: float) -> Call:
    """Blocking code, as a synchronous library would be: it holds its thread for the whole sleep."""
    started = time.perf_counter()
    time.sleep(seconds)
    finished = time.perf_counter()
    current = threading.current_thread()
    return Call(
        thread=current.name,
        thread_id=current.ident or 0,
        started_ms=round((started - origin) * 1000, 1),
        finished_ms=round((finished - origin) * 1000, 1),
    )


async def run_sleeps(sleep_time: float, num_calls: int, thread_sensitive: bool) -> dict:
    # thread_sensitive=True (the default) sends every call to one thread: the
    # request's own thread under Django's ASGI handler, the worker's main thread
    # under WSGI. So the calls queue behind each other. thread_sensitive=False
    # gives each call a thread of the loop's default executor: they overlap.
    origin = time.perf_counter()
    function = sync_to_async(partial(sleep, sleep_time, origin), thread_sensitive=thread_sensitive)
    calls = await asyncio.gather(*[function() for _ in range(num_calls)])
    elapsed_ms = (time.perf_counter() - origin) * 1000
    return {
        "sleep_time": sleep_time,
        "num_calls": num_calls,
        "thread_sensitive": thread_sensitive,
        "elapsed_ms": round(elapsed_ms, 1),
        "distinct_threads": len({call.thread_id for call in calls}),
        "event_loop": asdict(running_loop_info()),
        "calls": [asdict(call) for call in calls],
    }
