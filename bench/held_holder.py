"""The holder of `python -m bench.held`: N idle connections to a server, opened and kept.

    python -m bench.held_holder PORT COUNT [--state keep-alive|silent] [--connect-timeout 3] [--connect-phase 30]
                                           [--lifetime 300]

In the keep-alive state (the default) each connection sends one `GET /brands` (HTTP/1.1, so the
connection stays open), reads the whole answer and then stays idle: a browser's connection between
two requests. In the silent state it never sends a byte: a client that connected and has not spoken
yet. Either way the server keeps an accepted socket and whatever it keeps for a waiting connection (a
sync worker, a thread, a protocol object on an event loop), until its keep-alive timeout closes it.
One bare asyncio Protocol per connection, no reader or writer objects: the cheapest way to hold ten
thousand sockets from one process, so this side is never the bottleneck. It runs apart from the
client that measures, and answers on its standard streams:

    stdout, once connecting is over:  {"connected": n, "failed": {...}, "connect_s": t}
    stdin "count" -> stdout:          {"open": n, "closed_by_server": n, "cpu_s": t}
    stdin "close" or end of input:    closes every connection and exits

Every wait is bounded: each connect by --connect-timeout, all of them by --connect-phase, the whole
program by --lifetime, after which it closes everything and exits whatever its parent does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import threading
import time
from typing import cast

from bench.processes import raise_file_limit

STATES = ("keep-alive", "silent")
REQUEST = b"GET /brands HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # HTTP/1.1: keep-alive unless a side says close


class Held(asyncio.Protocol):
    """One idle connection: it sends `request` (if any), reads the answer, and notes when the server closes it."""

    closed_by_server = 0

    def __init__(self, request: bytes = b"") -> None:
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.request, self.received = request, b""
        self.answered = asyncio.get_running_loop().create_future()  # True: a whole 200 answer; False: none

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP connection: one that can abort()
        self.open = True
        if self.request:
            self.transport.write(self.request)
        else:
            self.answered.set_result(True)  # silent: nothing to wait for

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return
        self.received += data
        head, end, body = self.received.partition(b"\r\n\r\n")
        if not end:
            return
        length = next((line[15:] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")), None)
        whole = len(body) >= int(length) if length is not None else body.endswith(b"0\r\n\r\n")  # else chunked
        if whole:
            self.received = b""  # kept no longer than the answer: the idle connection holds nothing here
            self.answered.set_result(head.startswith(b"HTTP/1.1 200 "))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            Held.closed_by_server += 1
        self.open = False
        if not self.answered.done():
            self.answered.set_result(False)

    def close(self) -> None:
        self.open = False  # ours, not the server's
        if self.transport is not None:
            self.transport.abort()  # no FIN handshake to wait for: thousands close at once


async def open_all(
    port: int, count: int, connect_timeout: float, phase_s: float, request: bytes = b""
) -> tuple[list[Held], dict]:
    """Open up to `count` connections, 256 in flight at a time (handshake and answer), within phase_s seconds."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(256)
    held: list[Held] = []
    failed = {"timeout": 0, "refused": 0, "other": 0, "no_answer": 0, "not_tried_in_time": 0}

    async def one() -> None:
        protocol = Held(request)
        async with gate:
            try:
                async with asyncio.timeout(connect_timeout):
                    await loop.create_connection(lambda: protocol, "127.0.0.1", port)
                    answered = await protocol.answered
            except TimeoutError:
                # The server's accept queue is full (the kernel drops our handshake and retries it), or it is slow.
                failed["timeout"] += 1
                protocol.close()
            except ConnectionRefusedError:
                failed["refused"] += 1
            except OSError:
                failed["other"] += 1
            else:
                if answered:
                    held.append(protocol)
                else:
                    failed["no_answer"] += 1  # closed, or another status, before a whole 200 answer: not held
                    protocol.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    _, pending = await asyncio.wait(tasks, timeout=phase_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    failed["not_tried_in_time"] = count - len(held) - sum(failed.values())
    return held, failed


async def hold(args: argparse.Namespace) -> None:
    began = time.monotonic()
    request = REQUEST if args.state == "keep-alive" else b""
    held, failed = await open_all(args.port, args.count, args.connect_timeout, args.connect_phase, request)
    say({"connected": len(held), "failed": failed, "connect_s": round(time.monotonic() - began, 3)})
    lines = commands()
    try:
        async with asyncio.timeout(args.lifetime):
            while (await lines.get()).strip() == "count":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                still = sum(1 for h in held if h.open)
                cpu_s = round(usage.ru_utime + usage.ru_stime, 2)
                say({"open": still, "closed_by_server": Held.closed_by_server, "cpu_s": cpu_s})
    except TimeoutError:
        pass
    for connection in held:
        connection.close()
    await asyncio.sleep(0)  # let the transports drop their sockets


def commands() -> asyncio.Queue[str]:
    """The lines of standard input, read by a daemon thread: it never keeps the program from exiting."""
    loop, lines = asyncio.get_running_loop(), asyncio.Queue[str]()

    def read() -> None:
        for line in iter(sys.stdin.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")  # end of input: close

    threading.Thread(target=read, daemon=True).start()
    return lines


def say(message: dict) -> None:
    print(json.dumps(message), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.held_holder", description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--state", choices=STATES, default=STATES[0], help="after one GET /brands, or before a byte")
    parser.add_argument("--connect-timeout", type=float, default=3.0, help="seconds for one handshake (and answer)")
    parser.add_argument("--connect-phase", type=float, default=30.0, help="seconds for all of them")
    parser.add_argument("--lifetime", type=float, default=300.0, help="seconds before it closes everything anyway")
    args = parser.parse_args(argv)
    raise_file_limit(args.count)
    asyncio.run(hold(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
