"""`make demo`: the database and every documented server at once, each on its own port, and a front page
showing them all, until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from contextlib import ExitStack

from . import servers
from .__main__ import up
from .cards import cards
from .frontpage import create_app, serve
from .loadrun import LoadSettings

# The Django index's examples call this demo's aiohttp API on 127.0.0.1, an address its
# requests views refuse unless it is named (django_async_views/async_api/outbound.py).
DEMO_ENV = {"ASYNC_API_ALLOWED_TARGET_HOSTS": "127.0.0.1,localhost"}
FRONT_PAGE_PORT = 8090


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack below, which stops every server


def missing_tools(command: servers.ServerCommand) -> list[str]:
    # nginx lives in /usr/sbin, which a normal user's PATH often lacks.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    return [tool for tool in command.requires if shutil.which(tool, path=search) is None]


def main() -> int:
    # Servers run in process groups of their own (so a stray signal cannot kill
    # half of them); this process stops them on Ctrl-C, SIGTERM or a closed terminal.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    # DEMO_PORT_OFFSET moves every port, for a second demo next to a first one.
    offset = int(os.environ.get("DEMO_PORT_OFFSET", "0"))
    url = up()
    print(f"database: {url}\n")
    with ExitStack() as stack:
        running = []
        for command in servers.COMMANDS.values():
            if missing := missing_tools(command):
                print(f"skipping {command.name}: it needs {', '.join(missing)} (install with apt-get or brew)")
                continue
            print(f"starting {command.name}: {command.documented}", flush=True)
            running.append(
                stack.enter_context(
                    servers.run(command, port=command.demo_port + offset, database_url=url, env=DEMO_ENV)
                )
            )

        def print_urls(front_page: str) -> None:
            print(f"\nfront page: {front_page}  (every server, its health, the benchmark, a load button)\n")
            width = max(len(server.command.name) for server in running)
            print(f"{'app':<{width}}  {'url':<32} command")
            for server in running:
                link = f"{server.url}{server.command.ready_path}"
                print(f"{server.command.name:<{width}}  {link:<32} {server.command.documented}")
            print("\nCtrl-C stops every server (the database keeps running: `make db-stop`).", flush=True)

        page = create_app(cards(running), LoadSettings.from_env())
        try:
            signum = asyncio.run(serve(page, FRONT_PAGE_PORT + offset, print_urls))
        except OSError as error:
            print(f"error: the front page cannot listen on port {FRONT_PAGE_PORT + offset}: {error}", file=sys.stderr)
            return 1
        # The stop is under way: a second SIGTERM or closed terminal must not cut it short and leave servers.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        print("\nstopping...", flush=True)
    # Ctrl-C ends the demo as asked; SIGTERM and SIGHUP as a shell reports a signal.
    return 0 if signum == signal.SIGINT else 128 + signum


if __name__ == "__main__":
    sys.exit(main())
