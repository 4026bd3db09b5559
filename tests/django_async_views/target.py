"""A local aiohttp server for the requests views to call: it answers after a chosen delay and can fail on purpose."""

from __future__ import annotations

import asyncio
import collections
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from aiohttp import web

from devenv.embedded import free_port


class Target:
    """GET /?delay=S&status=N&size=B&fail_every=K&key=X&location=U&stream=B&declare=L

    Waits S seconds, then answers status N with a body of B bytes (and a Location header
    U when given, for a redirect). With fail_every=K every K-th request of the same key is
    cut off in the middle of its body, so one batch can hold both successes and failures.
    With stream=B the body is B bytes streamed in 64 KiB chunks (declared as L bytes with
    declare=L), and `sent` counts what each key's requests wrote before the client left.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: collections.Counter[str] = collections.Counter()
        self.sent: collections.Counter[str] = collections.Counter()

    def url(self, host: str = "127.0.0.1", **params: object) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"http://{host}:{self.port}/{query}"

    async def answer(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        self.seen[query.get("key", "")] += 1
        count = self.seen[query.get("key", "")]
        await asyncio.sleep(float(query.get("delay", "0")))
        fail_every = int(query.get("fail_every", "0"))
        if fail_every and count % fail_every == 0:
            # Promise 100 bytes, send 5 and hang up: the client fails while reading the
            # body. (A connection closed before any answer would be retried once by
            # aiohttp's client, which would make the count of failures uncertain.)
            response = web.StreamResponse(headers={"Content-Length": "100"})
            await response.prepare(request)
            await response.write(b"short")
            assert request.transport is not None
            request.transport.close()
            return response
        if "stream" in query:
            return await self.stream(request, int(query["stream"]), query.get("declare"), query.get("key", ""))
        headers = {"Location": query["location"]} if "location" in query else None
        return web.Response(
            status=int(query.get("status", "200")), body=b"x" * int(query.get("size", "10")), headers=headers
        )

    async def stream(self, request: web.Request, size: int, declare: str | None, key: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": declare} if declare else None)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for start in range(0, size, len(chunk)):
                part = chunk[: size - start]
                await response.write(part)  # waits while the client's socket is full
                self.sent[key] += len(part)
        except ConnectionError:
            pass  # the client stopped reading and closed the connection
        return response

    async def serve(self, started: threading.Event, stop: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_get("/", self.answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        started.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


@contextmanager
def running_target() -> Iterator[Target]:
    """The target runs on its own event loop in a thread, apart from the test's loop and the servers under test."""
    target = Target()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(target.serve(started, stop),), name="target", daemon=True
    )
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the target server did not start")
    try:
        yield target
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def closed_port_url() -> str:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    return f"http://127.0.0.1:{free_port()}/"


@contextmanager
def not_http_port(greeting: bytes) -> Iterator[int]:
    """A loopback port that is open but does not speak HTTP, as a database or an SSH server: each connection
    gets `greeting`, what the client sends is read for a moment, and the connection is closed."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(0.5)
                try:
                    connection.sendall(greeting)
                    connection.recv(65536)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, name="not-http", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        listener.close()
