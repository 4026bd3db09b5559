"""Which event loop and thread are running this code: one loop per process under ASGI, one per request under WSGI."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import weakref
from dataclasses import dataclass

# id() of a loop that has been closed and freed is often handed to the next loop
# created at the same address, so ids alone could make two loops look alike.
# Numbering each loop the first time we see it (weakly, so closed loops are not
# kept alive) tells them apart for certain.
_serials: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()
_next_serial = itertools.count(1)
_lock = threading.Lock()  # under WSGI several threads may each run a loop


@dataclass(frozen=True)
class LoopInfo:
    loop_id: int
    loop_serial: int  # the n-th loop this process has seen
    loop_class: str
    thread: str
    pid: int


def running_loop_info() -> LoopInfo:
    loop = asyncio.get_running_loop()
    with _lock:
        serial = _serials.get(loop)
        if serial is None:
            serial = _serials[loop] = next(_next_serial)
    return LoopInfo(
        loop_id=id(loop),
        loop_serial=serial,
        loop_class=f"{type(loop).__module__}.{type(loop).__qualname__}",
        thread=threading.current_thread().name,
        pid=os.getpid(),
    )
