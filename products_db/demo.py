"""`make demo`: the database and every app at once, each on its own port, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
from contextlib import ExitStack
from importlib.util import find_spec

from . import servers
from .__main__ import up

# Shown in the demo, in this order, when their package is present. The raw
# apps and the alternative forms of a server are left to their own commands.
DEMO = ["aiohttp", "flask", "starlette", "counter", "counter-shared", "django-asgi"]


def available(command: servers.ServerCommand) -> bool:
    """A command whose package has not been written yet is skipped, not started to fail."""
    module = command.documented.split(":")[0].split()[-1].strip("'")
    root = servers.REPO_ROOT / command.cwd
    sys.path.insert(0, str(root))
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False
    finally:
        sys.path.remove(str(root))


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack below, which stops every server


def main() -> int:
    # Servers run in process groups of their own (so a stray signal cannot kill
    # half of them); this process stops them on Ctrl-C, SIGTERM or a closed terminal.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    url = up()
    print(f"database: {url}\n")
    with ExitStack() as stack:
        rows = []
        for name in DEMO:
            command = servers.COMMANDS[name]
            if not available(command):
                continue
            print(f"starting {name}: {command.documented}", flush=True)
            server = stack.enter_context(servers.run(command, port=command.demo_port, database_url=url))
            rows.append((name, f"{server.url}{command.ready_path}", command.documented))
        width = max(len(name) for name, _, _ in rows)
        print(f"\n{'app':<{width}}  url                              command")
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
