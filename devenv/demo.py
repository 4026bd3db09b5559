"""`make demo`: the database and every documented server at once, each on its own port, until Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from contextlib import ExitStack

from . import servers
from .__main__ import up

# The Django index's examples call this demo's aiohttp API on 127.0.0.1, an address its
# requests views refuse unless it is named (django_async_views/async_api/outbound.py).
DEMO_ENV = {"ASYNC_API_ALLOWED_TARGET_HOSTS": "127.0.0.1,localhost"}


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
        rows = []
        for command in servers.COMMANDS.values():
            if missing := missing_tools(command):
                print(f"skipping {command.name}: it needs {', '.join(missing)} (install with apt-get or brew)")
                continue
            print(f"starting {command.name}: {command.documented}", flush=True)
            server = stack.enter_context(
                servers.run(command, port=command.demo_port + offset, database_url=url, env=DEMO_ENV)
            )
            rows.append((command.name, f"{server.url}{command.ready_path}", command.documented))
        width = max(len(name) for name, _, _ in rows)
        print(f"\n{'app':<{width}}  {'url':<32} command")
        for name, link, documented in rows:
            print(f"{name:<{width}}  {link:<32} {documented}")
        print("\nCtrl-C stops every server (the database keeps running: `make db-stop`).", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("\nstopping...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
