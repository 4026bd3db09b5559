"""Every documented server command, and running one as a subprocess (tests, `make demo`, the benchmark)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .embedded import REPO_ROOT, free_port


@dataclass(frozen=True)
class ServerCommand:
    """A command exactly as the README documents it, plus how to move it to another port."""

    name: str
    documented: str  # the line in the README, default port included
    port_args: str  # appended to bind a chosen port: "--port {port}", "--bind 127.0.0.1:{port}"
    demo_port: int
    cwd: str = "."  # relative to the repository root
    ready_path: str = "/brands"
    env: Mapping[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # system tools it runs (installed with the package manager, like wrk)

    def argv(self, port: int, extra: str = "") -> list[str]:
        return shlex.split(f"{self.documented} {self.port_args.format(port=port)} {extra}")


# Django refuses to start without SECRET_KEY unless DJANGO_DEBUG=1. `make demo` and
# the tests run it with DEBUG off, as deployed, so they pass this key: it is public,
# in this file, and only fit for a server on 127.0.0.1. A real deployment sets its own.
DJANGO_DEMO_ENV = {"SECRET_KEY": "insecure-demo-and-test-only-key-never-deploy-this"}

# The first word of each command is looked up in the virtualenv that runs us.
COMMANDS: dict[str, ServerCommand] = {
    command.name: command
    for command in [
        ServerCommand(
            "aiohttp",
            "python -m aiohttp_api",
            "--port {port}",
            demo_port=8080,
        ),
        ServerCommand(
            "aiohttp-gunicorn",
            "gunicorn -c python:aiohttp_api.gunicorn_conf 'aiohttp_api.app:init_app()'",
            "--bind 127.0.0.1:{port}",
            demo_port=8081,
        ),
        ServerCommand("flask", "gunicorn -w 8 flask_api.app:app", "--bind 127.0.0.1:{port}", demo_port=8000),
        ServerCommand(
            "starlette",
            "uvicorn --workers 8 --log-level error starlette_app.app:app",
            "--port {port}",
            demo_port=8002,
        ),
        ServerCommand(
            "starlette-gunicorn",
            "gunicorn starlette_app.app:app --worker-class uvicorn_worker.UvicornWorker --workers 2",
            "--bind 127.0.0.1:{port}",
            demo_port=8003,
        ),
        ServerCommand(
            "counter",
            "uvicorn --workers 1 starlette_app.app:app",
            "--port {port}",
            demo_port=8004,
            ready_path="/",
        ),
        # The counter shared through Postgres, so any number of workers (and hosts) agree.
        # The README documents it as `COUNTER_MODE=postgres uvicorn --workers 4 starlette_app.app:app`;
        # the variable lives in env because argv() does not run a shell.
        ServerCommand(
            "counter-shared",
            "uvicorn --workers 4 starlette_app.app:app",
            "--port {port}",
            demo_port=8009,
            ready_path="/",
            env={"COUNTER_MODE": "postgres"},
        ),
        ServerCommand(
            "django-asgi",
            "gunicorn async_views.asgi:application -k uvicorn_worker.UvicornWorker",
            "--bind 127.0.0.1:{port}",
            demo_port=8005,
            cwd="django_async_views",
            ready_path="/",
            env=DJANGO_DEMO_ENV,
        ),
        ServerCommand(
            "django-wsgi",
            "gunicorn async_views.wsgi:application",
            "--bind 127.0.0.1:{port}",
            demo_port=8006,
            cwd="django_async_views",
            ready_path="/",
            env=DJANGO_DEMO_ENV,
        ),
        ServerCommand(
            "raw-wsgi",
            "gunicorn asgi_raw.wsgi_app:application",
            "--bind 127.0.0.1:{port}",
            demo_port=8007,
            ready_path="/",
        ),
        ServerCommand(
            "raw-asgi",
            "uvicorn asgi_raw.asgi_app:application",
            "--port {port}",
            demo_port=8008,
            ready_path="/",
        ),
        # Past one process and one host (scale_out/): N aiohttp processes behind nginx, as the book
        # suggests, and a cluster of N hosts on this machine, each with the REST API and the shared
        # counter, behind nginx. extra_args "--processes N" or "--hosts N" pick N.
        ServerCommand(
            "aiohttp-nginx",
            "python -m scale_out.aiohttp_nginx",
            "--port {port}",
            demo_port=8011,
            requires=("nginx",),
        ),
        ServerCommand(
            "cluster",
            "python -m scale_out --hosts 3",
            "--port {port}",
            demo_port=8012,
            requires=("nginx",),
        ),
        # The same bare ASGI app, with gunicorn managing uvicorn workers.
        ServerCommand(
            "raw-asgi-gunicorn",
            "gunicorn asgi_raw.asgi_app:application -k uvicorn_worker.UvicornWorker",
            "--bind 127.0.0.1:{port}",
            demo_port=8010,
            ready_path="/",
        ),
    ]
}


# Names of the commands this process has started: the test suite checks at the
# end that every documented command was started at least once.
STARTED: set[str] = set()


@dataclass
class RunningServer:
    command: ServerCommand
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def environment(database_url: str | None, extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # Commands name `gunicorn`, `uvicorn`, `python`: take them from our virtualenv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    # gunicorn 27 opens a control socket at one fixed path per user; several
    # gunicorns at once (demo, tests) would fight over it, and nothing here uses it.
    env.setdefault("GUNICORN_CMD_ARGS", "--no-control-socket")
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_to_exit(
    command: ServerCommand | str,
    database_url: str,
    extra_args: str = "",
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Run a command that is expected to stop by itself (a start-up error); its exit code and output."""
    if isinstance(command, str):
        command = COMMANDS[command]
    process = subprocess.run(
        command.argv(free_port(), extra_args),
        cwd=REPO_ROOT / command.cwd,
        env=environment(database_url, {**command.env, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return process.returncode, process.stdout + process.stderr


def wait_until_answering(server: RunningServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.command.name} exited with code {server.process.returncode} while starting:\n"
                f"{server.log()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(server.url + server.command.ready_path, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.command.name} did not answer within {timeout:.0f} s:\n{server.log()[-3000:]}")


def stop(server: RunningServer, timeout: float = 30.0) -> int:
    """SIGTERM the whole process group (master and workers), wait, and make sure nothing is left."""
    pgid = server.process.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        code = server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        code = server.process.wait()
    # Workers may outlive the master by a moment; none may outlive us.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return code
        time.sleep(0.05)
    os.killpg(pgid, signal.SIGKILL)
    raise RuntimeError(f"{server.command.name}: processes of group {pgid} were still running after stop")


@contextmanager
def run(
    command: ServerCommand | str,
    *,
    port: int | None = None,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    extra_args: str = "",
    ready_timeout: float = 60.0,
) -> Iterator[RunningServer]:
    """Start a documented command on a free port, wait until it answers, and stop it afterwards."""
    if isinstance(command, str):
        command = COMMANDS[command]
    port = port or free_port()
    STARTED.add(command.name)
    log_file = tempfile.NamedTemporaryFile(prefix=f"{command.name}-", suffix=".log", delete=False)
    process = subprocess.Popen(
        command.argv(port, extra_args),
        cwd=REPO_ROOT / command.cwd,
        env=environment(database_url, {**command.env, **(env or {})}),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so stop() reaches every worker
    )
    server = RunningServer(command, port, process, Path(log_file.name))
    try:
        wait_until_answering(server, ready_timeout)
        yield server
    finally:
        stop(server)
        log_file.close()
