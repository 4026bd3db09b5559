"""`python -m devenv up|stop|status|seed|reset`: the local database from the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from products_db.config import database_url, redact, unreachable_message
from products_db.schema import prepare

from . import binaries, embedded


def up(reseed: bool = False) -> str:
    """Start the embedded server (unless DATABASE_URL is set), create the schema, seed if empty."""
    url = database_url()
    if not os.environ.get("DATABASE_URL"):
        started = time.perf_counter()
        was_running = embedded.is_running()
        url = embedded.start()
        state = "already running" if was_running else f"started in {time.perf_counter() - started:.2f} s"
        programs = f"PostgreSQL {binaries.major_version()} from {binaries.bin_dir()}"
        print(f"embedded postgres {state} ({programs}, data in {embedded.DATA_DIR})", file=sys.stderr)
    result = asyncio.run(prepare(url, reseed=reseed))
    if result["seeded"]:
        print(f"seeded the products data in {result['seconds']:.2f} s", file=sys.stderr)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "stop", "status", "seed", "reset"],
        help="up: start and seed, print the URL; seed: reload the seed data; "
        "reset: stop the embedded server and delete its data",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            print(up())
        elif args.command == "seed":
            print(up(reseed=True))
        elif args.command == "status":
            running = embedded.is_running()
            print(f"{redact(database_url())} ({'running' if running else 'not running'})")
            return 0 if running else 1
        elif args.command == "stop":
            print("stopped" if embedded.stop() else "not running", file=sys.stderr)
        elif args.command == "reset":
            embedded.destroy()
            print(f"removed {embedded.DATA_DIR}", file=sys.stderr)
    except embedded.EmbeddedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (TimeoutError, OSError) as error:
        print(f"error: {unreachable_message(database_url(), error)}", file=sys.stderr)
        return 1
    except Exception as error:  # asyncpg's errors: a bad password, a missing database
        if type(error).__module__.startswith("asyncpg"):
            print(f"error: {unreachable_message(database_url(), error)}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
