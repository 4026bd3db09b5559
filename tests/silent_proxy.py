"""A TCP forwarder to Postgres whose connections a test can make silent, as a network cut makes them.

A plugin of the suite (tests/conftest.py): the fixture silent_proxy gives the proxy and a DATABASE_URL through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any
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
        # Each connection: the task copying its bytes both ways, and its two sockets (held open here).
        self.links: list[tuple[asyncio.Future[Any], tuple[asyncio.StreamWriter, asyncio.StreamWriter]]] = []

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
            for copying, writers in self.links:
                copying.cancel()
                for writer in writers:
                    writer.close()
            await asyncio.gather(*(copying for copying, _ in self.links), return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def silence(self) -> int:
        """Silence every connection open now; how many there were."""

        async def cut() -> int:
            for copying, _ in self.links:
                copying.cancel()  # nothing is copied any more, and nothing closes its sockets
            return len(self.links)

        return asyncio.run_coroutine_threadsafe(cut(), self.loop).result(10)

    async def _forward(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection(*self.target)
        copying = asyncio.gather(self._pipe(client, to_server), self._pipe(server, to_client))
        self.links.append((copying, (to_client, to_server)))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # a reset on either side ends the connection
        writer.close()  # not when cancelled: a silenced connection stays open


@pytest.fixture
def silent_proxy(database_url: str) -> Iterator[tuple[SilenceableProxy, str]]:
    parts = urlsplit(database_url)
    with SilenceableProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as running:
        netloc = parts.netloc.rsplit(":", 1)[0] + f":{running.port}"
        yield running, urlunsplit(parts._replace(netloc=netloc))
