"""A TCP forwarder to Postgres whose connections a test can make silent, as a network cut makes them.

A plugin of the suite (tests/conftest.py): the fixture silent_proxy gives the proxy and a DATABASE_URL through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest


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
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

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
def silent_proxy(database_url: str) -> Iterator[tuple[SilenceableProxy, str]]:
    parts = urlsplit(database_url)
    with SilenceableProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as running:
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{running.port}"
        yield running, urlunsplit(parts._replace(netloc=netloc))
