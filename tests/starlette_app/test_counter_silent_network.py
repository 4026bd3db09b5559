"""The shared counter when its database connections go silent, as after a network cut: no answer, no error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from websockets.asyncio.client import connect

from devenv.servers import RunningServer

from .test_counter import assert_stays, wait_for_count, ws_url
from .test_counter_shared import WORKERS, connect_spread, eventually, worker_rows

HEARTBEAT = 0.5
# A step given up after a heartbeat, the next heartbeat on a fresh connection: 1.5 s, well within this.
EXPIRY = 3.0
SILENT_ENV = {"COUNTER_HEARTBEAT": str(HEARTBEAT), "COUNTER_EXPIRY": str(EXPIRY)}


class SilenceableProxy:
    """A TCP forwarder to Postgres, on a thread of its own; silence() makes every connection open now go silent.

    A silent connection stays open and passes no byte either way, as when a network cut or a firewall
    drops its packets: the client is told nothing and waits. Connections opened after silence() work.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.silenced: list[asyncio.Event] = []

    def __enter__(self) -> SilenceableProxy:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._forward, "127.0.0.1", 0), self.loop
        ).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def silence(self) -> int:
        """Silence every connection open now; how many there were."""

        async def cut() -> int:
            for silent in self.silenced:
                silent.set()
            return len(self.silenced)

        return asyncio.run_coroutine_threadsafe(cut(), self.loop).result(10)

    async def _forward(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection(*self.target)
        silent = asyncio.Event()
        self.silenced.append(silent)
        await asyncio.gather(self._pipe(client, to_server, silent), self._pipe(server, to_client, silent))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, silent: asyncio.Event) -> None:
        try:
            while not silent.is_set():
                reading = asyncio.ensure_future(reader.read(65536))
                silenced = asyncio.ensure_future(silent.wait())
                await asyncio.wait({reading, silenced}, return_when=asyncio.FIRST_COMPLETED)
                silenced.cancel()
                if silent.is_set():
                    reading.cancel()
                    break
                data = reading.result()
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
            await asyncio.Event().wait()  # silent: held open, nothing passes, until the test ends
        except OSError:
            writer.close()


@pytest.fixture
def proxy(database_url: str) -> Iterator[tuple[SilenceableProxy, str]]:
    parts = urlsplit(database_url)
    with SilenceableProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as running:
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{running.port}"
        yield running, urlunsplit(parts._replace(netloc=netloc))


async def test_silent_connections_are_given_up_and_the_total_stays_exact(
    database_url: str, start_server, proxy: tuple[SilenceableProxy, str]
) -> None:
    silenceable, proxy_url = proxy
    server: RunningServer
    with start_server("counter-shared", env=SILENT_ENV, database_url=proxy_url) as server:
        clients = await connect_spread(database_url, server, at_least=8)
        total = len(clients)
        await asyncio.gather(*(wait_for_count(ws, total) for ws in clients))

        # Every connection the workers hold (their pools, their LISTEN connections) goes silent.
        assert silenceable.silence() >= WORKERS
        # A newcomer is counted by everyone: its worker writes its row on a fresh connection, and
        # every worker reads the total on one.
        newcomer = await connect(ws_url(server))
        everyone = [*clients, newcomer]
        await asyncio.gather(*(wait_for_count(ws, total + 1, within=EXPIRY + 10) for ws in everyone))
        # And the total holds: no worker's row expires, each heartbeat finds a connection that answers.
        await asyncio.gather(*(assert_stays(ws, total + 1, quiet=2 * EXPIRY) for ws in everyone))

        async def all_fresh() -> dict[int, int]:
            rows = await worker_rows(database_url, server)
            return rows if len(rows) == WORKERS and sum(rows.values()) == total + 1 else {}

        await eventually(all_fresh, within=EXPIRY)
        await asyncio.gather(*(ws.close() for ws in everyone))
        # The workers did meet silent connections, and said so.
        assert "counter heartbeat failed, retrying: " in server.log()
