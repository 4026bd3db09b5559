"""A Postgres that lives exactly as long as the process that asked for it (one test run)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from products_db.schema import prepare

from . import embedded


@contextmanager
def throwaway_server(unix_socket: bool = False) -> Iterator[str]:
    """Start a supervised server on a free port, yield its URL, and remove it afterwards.

    The supervisor reads our end of a pipe: when this process exits in any way,
    SIGKILL included, the pipe closes, the supervisor sees end-of-file and takes
    the server and its data down with it. Nothing outlives the test run.

    With unix_socket=True the server also listens on a unix socket in its data
    folder, and the URL is that socket's: postgresql://postgres@/products?host=/folder&port=N.
    """
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "devenv.throwaway", *(["--unix-socket"] if unix_socket else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a Ctrl-C aimed at pytest must not skip the clean-up
    )
    assert supervisor.stdout is not None and supervisor.stdin is not None
    line = supervisor.stdout.readline().strip()
    if not line.startswith("postgresql://"):
        supervisor.kill()
        raise embedded.EmbeddedError(f"throwaway postgres failed to start: {line or 'no output'}")
    try:
        yield line
    finally:
        supervisor.stdin.close()
        code = supervisor.wait(timeout=60)
        if code != 0:
            raise embedded.EmbeddedError(f"throwaway postgres supervisor exited with {code}")


@contextmanager
def restartable_server(prefix: str = "products-pg-restartable-") -> Iterator[tuple[Path, int, str]]:
    """A server under pg_ctl, as `make db` runs one, that its caller may stop and start: (data folder, port, URL).

    Removed when this process exits in any way, SIGKILL included: a watchdog holds our end
    of a pipe, as throwaway_server's supervisor does, and on end-of-file stops the server
    and deletes its folder. The folder is not under pytest's tmp_path: a pytest starting
    meanwhile makes that private again (mode 0700), and the server's own user could no
    longer reach its data to start it again.
    """
    data_dir = Path(tempfile.mkdtemp(prefix=prefix)) / "pgdata"
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "devenv.throwaway", "--remove-when-closed", str(data_dir)],
        stdin=subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C aimed at pytest must not skip the clean-up
    )
    assert watchdog.stdin is not None
    try:
        port = embedded.free_port()
        yield data_dir, port, embedded.start(data_dir, port)
    finally:
        watchdog.stdin.close()
        watchdog.wait(timeout=60)


def remove_when_closed(data_dir: Path) -> int:
    """restartable_server's watchdog: wait for stdin to close, then stop the server and delete its folder."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # its end comes through the pipe
    sys.stdin.read()
    embedded.destroy(data_dir)
    shutil.rmtree(data_dir.parent, ignore_errors=True)
    return 0


@contextmanager
def seeded_database() -> Iterator[str]:
    """DATABASE_URL if set (schema and seed created if missing), else a throwaway server: for tests and benchmarks."""
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        asyncio.run(prepare(url))
        yield url
        return
    with throwaway_server() as url:
        asyncio.run(prepare(url))
        yield url


def supervise(unix_socket: bool = False) -> int:
    run_as = embedded.server_user()
    data_dir = Path(tempfile.mkdtemp(prefix="products-pg-"))
    postgres: subprocess.Popen | None = None
    try:
        embedded.initdb(data_dir, run_as)
        port = embedded.free_port()
        settings = {**embedded.SERVER_SETTINGS, **embedded.THROWAWAY_SETTINGS}
        if unix_socket:
            # TCP stays on for the tools; the socket goes where only the server's
            # user (and root) can reach it, under a short path (the limit is 107 bytes).
            settings["unix_socket_directories"] = str(data_dir)
        postgres = subprocess.Popen(
            [embedded.binary("postgres"), "-D", str(data_dir), *embedded.server_options(port, settings)],
            stdout=subprocess.DEVNULL,
            stderr=open(data_dir / "server.log", "w"),
            **run_as.popen_kwargs(),
        )
        embedded.wait_until_ready(port, process=postgres)
        embedded.ensure_database(port)
        print(embedded.socket_url(data_dir, port) if unix_socket else embedded.url(port), flush=True)

        done = threading.Event()

        def until_stdin_closes() -> None:
            sys.stdin.read()
            done.set()

        signal.signal(signal.SIGTERM, lambda *_: done.set())
        threading.Thread(target=until_stdin_closes, daemon=True).start()
        done.wait()
        return 0
    except Exception as error:  # reported on the line the parent is waiting for
        print(f"error: {error}", flush=True)
        return 1
    finally:
        if postgres is not None and postgres.poll() is None:
            postgres.send_signal(signal.SIGINT)  # "fast" shutdown: end sessions, skip waiting
            try:
                postgres.wait(timeout=30)
            except subprocess.TimeoutExpired:
                postgres.kill()
                postgres.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def run_with_database(command: list[str]) -> int:
    """Run a command with DATABASE_URL set to a seeded throwaway server (`make mutate`: every test run shares it)."""
    with seeded_database() as url:
        return subprocess.run(command, env={**os.environ, "DATABASE_URL": url}).returncode


if __name__ == "__main__":
    if sys.argv[1:2] == ["--"]:
        sys.exit(run_with_database(sys.argv[2:]))
    if sys.argv[1:2] == ["--remove-when-closed"]:
        sys.exit(remove_when_closed(Path(sys.argv[2])))
    sys.exit(supervise(unix_socket="--unix-socket" in sys.argv[1:]))
