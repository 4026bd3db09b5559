"""`python -m scale_out.aiohttp_nginx [--processes N] [--port P]`: N aiohttp processes behind nginx (the book's advice).

Each `python -m aiohttp_api` is one event loop on one core; nginx spreads the requests over them and keeps
idle connections to each open. Runs in the foreground; Ctrl-C or SIGTERM stops nginx and every process.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from devenv.embedded import free_port

from .nginx import NginxMissing, start_nginx
from .supervisor import ChildFailed, handle_signals, run_directory, supervised

HOST = "127.0.0.1"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scale_out.aiohttp_nginx", description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="default: one per core")
    parser.add_argument("--port", type=int, default=8011, help="where nginx listens (on 127.0.0.1)")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    handle_signals()
    try:
        with run_directory() as run_dir, supervised() as supervisor:
            ports = [free_port() for _ in range(args.processes)]
            apps = [
                supervisor.start(f"aiohttp {number}", [sys.executable, "-m", "aiohttp_api", "--port", str(port)])
                for number, port in enumerate(ports, 1)
            ]
            for app, port in zip(apps, ports, strict=True):
                supervisor.wait_http(app, f"http://{HOST}:{port}/brands")
            for app, port in zip(apps, ports, strict=True):
                print(f"{app.name}: http://{HOST}:{port} (pid {app.process.pid})", flush=True)
            start_nginx(supervisor, run_dir, HOST, args.port, [f"{HOST}:{port}" for port in ports])
            print(f"nginx in front of {args.processes} aiohttp processes: http://{HOST}:{args.port}/brands")
            print("Ctrl-C stops them all.", flush=True)
            supervisor.watch()
    except (ChildFailed, NginxMissing) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
