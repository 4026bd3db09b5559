"""Running a documented server command as a subprocess (tests, `make demo`, the benchmark), and stopping it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .commands import COMMANDS, ServerCommand
from .embedded import REPO_ROOT, free_port

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


_LOGS: tempfile.TemporaryDirectory[str] | None = None


def log_folder() -> Path:
    """One folder for the logs of every server this process starts, deleted when the process exits.

    A log stays readable after its server stops (the tests read it then), and a test run
    does not leave hundreds of files behind in the system's temporary folder.
    """
    global _LOGS
    if _LOGS is None:
        _LOGS = tempfile.TemporaryDirectory(prefix="servers-")
    return Path(_LOGS.name)


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
    log_file = tempfile.NamedTemporaryFile(prefix=f"{command.name}-", suffix=".log", delete=False, dir=log_folder())
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
