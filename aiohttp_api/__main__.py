"""`python -m aiohttp_api [--host H] [--port P]`: one process, one event loop (the book's way)."""

import argparse

import uvloop
from aiohttp import web

from .app import init_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m aiohttp_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    # uvloop: the same asyncio API on libuv, with less overhead per callback; the
    # loop uvicorn picks for the Starlette app, so the two compare like for like.
    # backlog: connections the kernel queues before accept(); aiohttp's default of
    # 128 drops some of 200 clients connecting at once (gunicorn and uvicorn use 2048).
    web.run_app(init_app(), host=args.host, port=args.port, print=None, loop=uvloop.new_event_loop(), backlog=2048)


if __name__ == "__main__":
    main()
