"""The embedded Postgres: reachable over TCP, never run as root, reused when running, gone with its test run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devenv import embedded
from devenv.throwaway import restartable_server, throwaway_server


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def postgres_processes(data_dir: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline", "username"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and data_dir in cmdline:
            found.append(process)
    return found


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_throwaway_server_is_gone_after_use() -> None:
    with throwaway_server() as url:
        port = port_of(url)
        assert embedded.port_in_use(port)
    assert not embedded.port_in_use(port)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to hand the server to another user")
def test_server_never_runs_as_root(database_url: str) -> None:
    port = str(port_of(database_url))
    owners = {
        p.info["username"]
        for p in psutil.process_iter(["name", "cmdline", "username"])
        if p.info["name"] == "postgres" and port in (p.info["cmdline"] or [])
    }
    assert owners and "root" not in owners


def test_throwaway_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """Even SIGKILL of the test process (no clean-up code runs) takes the server down."""
    script = (
        "import os, signal\n"
        "from devenv.throwaway import restartable_server, throwaway_server\n"
        "with throwaway_server() as url:\n"
        "    print(url, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL
    port = port_of(child.stdout.strip())
    assert wait_for(lambda: not embedded.port_in_use(port)), "postgres outlived the killed test process"


@pytest.mark.parametrize("ending", ["return", "kill"])
def test_restartable_server_goes_with_its_caller_even_killed(ending: str) -> None:
    """The outage tests' server (pg_ctl, so they can restart it) is stopped and deleted when its caller ends."""
    script = (
        "import os, signal, sys\n"
        "from devenv import embedded\n"
        "from devenv.throwaway import restartable_server\n"
        "with restartable_server() as (data_dir, port, url):\n"
        "    embedded.stop(data_dir)\n"
        "    embedded.start(data_dir, port)  # a test restarts it\n"
        "    print(data_dir, port, flush=True)\n"
        "    if sys.argv[1] == 'kill':  # no clean-up code of ours runs\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", script, ending], capture_output=True, text=True, timeout=120)
    assert child.returncode == (-signal.SIGKILL if ending == "kill" else 0), child.stderr
    data_dir, port = child.stdout.split()
    assert wait_for(lambda: not embedded.port_in_use(int(port))), "postgres outlived its caller"
    assert wait_for(lambda: not Path(data_dir).parent.exists()), f"{data_dir} was left behind"


def test_persistent_server_is_found_again_not_started_twice() -> None:
    # restartable_server calls embedded.start(), as `make db` does, and removes the server even if pytest is killed.
    with restartable_server() as (data_dir, port, url):
        assert url.endswith(f":{port}/products")
        first_pid = (data_dir / "postmaster.pid").read_text().split()[0]
        assert embedded.start(data_dir, port) == url  # a second `make db`
        assert (data_dir / "postmaster.pid").read_text().split()[0] == first_pid
        assert len(postgres_processes(str(data_dir))) >= 1
        assert embedded.stop(data_dir) is True
        assert not embedded.port_in_use(port)
        assert embedded.stop(data_dir) is False  # stopping twice is harmless


def test_port_taken_by_someone_else_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(embedded.EmbeddedError, match=f"port {port} is taken"):
            embedded.start(tmp_path / "pgdata", port)
