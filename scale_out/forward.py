"""`python -m scale_out.forward LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT`: a TCP forwarder.

It runs until its standard input closes (its supervisor stops it, or dies; Ctrl-D by hand).

Why the cluster needs one: in namespace mode the hosts live in network namespaces of their own, where
127.0.0.1 is each namespace's own loopback, not the machine's. The Postgres the apps use (the test
suite's throwaway one, or `make db`'s) listens on the machine's 127.0.0.1 only, and may have been started
before the cluster's bridge existed, so it cannot listen on the bridge. This forwarder, in the root
namespace, listens on the bridge's address and copies bytes both ways to the real Postgres; the hosts get
a DATABASE_URL that points at the bridge. Postgres itself is untouched and still reachable from
loopback only.
"""

from __future__ import annotations

import asyncio
import signal
import sys

BUFFER = 65536


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends; drain() holds back a fast side when the other is slow."""
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass  # a reset on either side ends both directions
    finally:
        writer.close()


async def forward(
    target_host: str, target_port: int, client: asyncio.StreamReader, to_client: asyncio.StreamWriter
) -> None:
    try:
        server, to_server = await asyncio.wait_for(asyncio.open_connection(target_host, target_port), 10)
    except (OSError, TimeoutError):
        to_client.close()  # the client sees its connection refused, as it would without us
        return
    await asyncio.gather(pipe(client, to_server), pipe(server, to_client))


async def serve(listen_host: str, listen_port: int, target_host: str, target_port: int) -> None:
    server = await asyncio.start_server(
        lambda reader, writer: forward(target_host, target_port, reader, writer), listen_host, listen_port
    )
    print(f"forwarding {listen_host}:{listen_port} to {target_host}:{target_port}", flush=True)
    async with server:
        await stdin_closed()


async def stdin_closed() -> None:
    stdin = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while await stdin.read(BUFFER):
        pass


def main() -> None:
    listen_host, listen_port, target_host, target_port = sys.argv[1:5]
    # A Ctrl-C or SIGTERM meant for the whole cluster must not cut the apps off from their database
    # while they leave: the supervisor closes our stdin once they are gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        from uvloop import run  # installed with uvicorn[standard]: a faster event loop for a byte pump
    except ImportError:
        from asyncio import run  # type: ignore[assignment]  # uvloop.run's signature adds loop options, unused here
    run(serve(listen_host, int(listen_port), target_host, int(target_port)))


if __name__ == "__main__":
    main()
