"""The counter's load generator: N WebSocket clients spread over several processes, started together.

A client costs CPU for every message it reads, as the server does for every one it sends, and both run on
the same cores: a generator that is slower than the server measures itself. So each process runs its own
event loop with its share of the clients, they start at one barrier, and report through a queue when
each client connected, when it last heard a new count, how many counts it got, and their CPU time (the
clocks agree: time.monotonic() is one system-wide clock on Linux and macOS). And a client is a bare
asyncio.Protocol that reads WebSocket frames by hand: a full client (websockets' asyncio one) spends a
task wake-up and a message queue per message, several times the server's own cost of sending it.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import queue
import time
import zlib
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier, Event
from urllib.parse import urlsplit

# Handshakes in flight at once, over all processes: under the smallest listen backlog in front of a
# counter (nginx's 511), so a burst never overflows it into SYN retries, which would measure TCP's
# one-second retransmission timer rather than the server.
IN_FLIGHT = 500
CONNECT_TIMEOUT = 120.0  # seconds one handshake may take while thousands queue before it
SETTLE_TIMEOUT = 120.0  # seconds after its last connect for every client of a process to see the final count
START_TIMEOUT = 60.0  # seconds for every process to start and meet at the barrier
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA  # the opcodes this client handles
DEFLATE_TAIL = b"\x00\x00\xff\xff"  # removed from every compressed message by the sender (RFC 7692)


class Client(asyncio.Protocol):
    """One WebSocket client that remembers the latest count and when it arrived, and answers pings.

    It offers per-message-deflate, as browsers do, so the server's setting decides whether counts come
    compressed. Server frames are never masked and the counter's are never fragmented.
    """

    def __init__(self, request: bytes, final: bytes, share: Share) -> None:
        self.request = request
        self.final = final
        self.share = share
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.inflate: zlib._Decompress | None = None
        self.transport: asyncio.Transport | None = None
        self.connected_at = 0.0
        self.latest = b""
        self.latest_at = 0.0
        self.messages = 0  # counts received; the first message, where the client landed, is not one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").lower()
            del self.buffer[: end + 4]
            if not head.startswith("http/1.1 101"):
                self.opened.set_exception(ConnectionError(f"handshake refused: {head.splitlines()[0]}"))
                return
            if "permessage-deflate" in head:  # a 15-bit window reads whatever window the server chose
                self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            self.connected_at = time.monotonic()
            self.opened.set_result(None)
        self.read_frames()

    def read_frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length >= 126:
                start = 4 if length == 126 else 10
                if len(buffer) < start:
                    return
                length = int.from_bytes(buffer[2:start], "big")
            if len(buffer) < start + length:
                return
            first, payload = buffer[0], bytes(buffer[start : start + length])
            del buffer[: start + length]
            opcode = first & 0x0F
            if opcode == TEXT:
                if first & 0x40 and self.inflate is not None:  # RSV1: compressed
                    payload = self.inflate.decompress(payload + DEFLATE_TAIL)
                self.received(payload)
            elif opcode == PING:
                self.send_frame(PONG, payload)
            elif opcode == CLOSE and self.transport is not None:
                self.transport.close()

    def received(self, payload: bytes) -> None:
        if payload.startswith(b"{"):
            return  # {"host": ..., "worker": ...}: where it landed, not a count
        if self.latest == self.final:
            self.share.have_final -= 1
        self.latest, self.latest_at = payload, time.monotonic()
        self.messages += 1
        if payload == self.final:
            self.share.have_final += 1
            self.share.check()

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """A client's frames are masked (RFC 6455 5.3); these are short: a pong, a close."""
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self.send_frame(CLOSE, (1000).to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()


class Share:
    """This process's share of the clients: how many have the final count, and a future set when all of them do."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.have_final = 0
        self.settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def check(self) -> None:
        if self.have_final == self.count and not self.settled.done():
            self.settled.set_result(None)


@dataclass
class Report:
    """What one process of clients saw; plain data, so it crosses the process boundary."""

    started: float = 0.0
    connected_at: list[float] = field(default_factory=list)
    last_new_count_at: float = 0.0
    messages: list[int] = field(default_factory=list)
    cpu_s: float = 0.0  # this process's CPU time from the start until its clients all saw the final count
    error: str = ""


def upgrade_request(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    return parts.hostname or "127.0.0.1", parts.port or 80, request.encode()


async def _open(url: str, final: bytes, share: Share, slots: asyncio.Semaphore) -> Client:
    host, port, request = upgrade_request(url)
    async with slots:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: Client(request, final, share), host, port)
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await client.opened
    return client


async def _run(url: str, count: int, final: str, in_flight: int, sync: Sync, report: Report) -> None:
    slots = asyncio.Semaphore(in_flight)
    share = Share(count)
    await asyncio.to_thread(sync.start.wait, START_TIMEOUT)
    report.started, cpu_before = time.monotonic(), time.process_time()
    opening = [asyncio.ensure_future(_open(url, final.encode(), share, slots)) for _ in range(count)]
    try:
        clients = await asyncio.gather(*opening)
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await share.settled
        except TimeoutError:
            seen = sorted({client.latest.decode() or "-" for client in clients})
            raise RuntimeError(f"not every client saw {final} within {SETTLE_TIMEOUT:.0f} s: {seen}") from None
        report.cpu_s = time.process_time() - cpu_before
        report.connected_at = [client.connected_at for client in clients]
        report.last_new_count_at = max(client.latest_at for client in clients)
        report.messages = [client.messages for client in clients]
        sync.reports.put(report)
        # The clients stay connected until the parent has read the server's memory and spread.
        await asyncio.to_thread(sync.done.wait, SETTLE_TIMEOUT)
    finally:
        for task in opening:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
            else:
                task.cancel()


@dataclass
class Sync:
    """What the processes share: the barrier they start at, the queue of reports, the signal to disconnect."""

    start: Barrier
    reports: multiprocessing.Queue
    done: Event


def client_process(url: str, count: int, final: str, in_flight: int, sync: Sync) -> None:
    """One process of the generator (the target of multiprocessing): its clients, on its own event loop."""
    report = Report()
    try:
        asyncio.run(_run(url, count, final, in_flight, sync, report))
    except Exception as error:  # reported, or the parent would wait for a report that never comes
        if not report.connected_at:
            sync.start.abort()  # a process that failed before the start must not hold the others at the barrier
            sync.reports.put(Report(error=f"{type(error).__name__}: {error}"))


class Generator:
    """`with Generator(url, clients, processes) as gen: reports = gen.run()`: the clients stay until the with ends."""

    def __init__(self, url: str, clients: int, processes: int) -> None:
        self.url = url
        self.clients = clients
        self.processes = min(processes, clients)
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop or threads inherited
        self.sync = Sync(context.Barrier(self.processes + 1), context.Queue(), context.Event())
        shares = [clients // self.processes + (i < clients % self.processes) for i in range(self.processes)]
        in_flight = max(1, IN_FLIGHT // self.processes)
        self.workers = [
            context.Process(
                target=client_process,
                args=(url, share, str(clients), in_flight, self.sync),
                name=f"counter-clients-{i}",
                daemon=True,
            )
            for i, share in enumerate(shares)
        ]

    def __enter__(self) -> Generator:
        for worker in self.workers:
            worker.start()
        return self

    def run(self) -> list[Report]:
        """Start every process at once; return their reports once every client has seen the final count."""
        self.sync.start.wait(START_TIMEOUT)
        reports: list[Report] = []
        deadline = time.monotonic() + CONNECT_TIMEOUT + SETTLE_TIMEOUT + START_TIMEOUT
        while len(reports) < len(self.workers):
            try:
                report = self.sync.reports.get(timeout=1.0)
            except queue.Empty:
                dead = [w.name for w in self.workers if not w.is_alive()]
                if time.monotonic() > deadline or (dead and self.sync.reports.empty()):
                    error = f"load generator: {len(reports)} of {len(self.workers)} reports; dead: {dead}"
                    raise RuntimeError(error) from None
                continue
            if report.error:
                raise RuntimeError(f"load generator process failed: {report.error}")
            reports.append(report)
        return reports

    def __exit__(self, *exc: object) -> None:
        self.sync.done.set()
        for worker in self.workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join()
