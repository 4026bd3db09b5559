"""Child processes that live exactly as long as their supervisor: started, watched, restarted, stopped in order."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RESTART_DELAY = 1.0  # seconds before a child that died is started again
STABLE_AFTER = 10.0  # a child that ran this long before dying was not crash-looping
MAX_QUICK_DEATHS = 5  # a child that dies this often in a row, each time soon after starting: give up
STOP_TIMEOUT = 10.0  # seconds a child has to stop after SIGTERM before it gets SIGKILL
GRACE = 1.0  # after a signal to the whole process group, how long children get to leave by themselves
RUN_DIR_PREFIX = "scale-out-"
PR_SET_PDEATHSIG = 1
# Loaded here, in the parent: a child between fork and exec should do as little as possible.
_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None


class ChildFailed(RuntimeError):
    """A child exited while starting, or kept dying: the message says which and how."""


def _die_with(parent: int) -> None:
    """In the child, between fork and exec: ask the kernel for SIGTERM when the supervisor dies.

    That covers even a supervisor killed with SIGKILL, which runs no clean-up of its own; the request
    survives exec. Linux only; elsewhere the supervisor's own stop is all there is.
    """
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before the request was in place
            os._exit(1)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: Mapping[str, str] | None
    layer: int  # stopped from the highest layer down: the front (nginx) first, the database path last
    until_stdin_closes: bool  # it ignores signals and leaves when its stdin closes (the forwarder)
    process: subprocess.Popen
    started_at: float
    quick_deaths: int = 0
    restart_at: float | None = None

    def stop(self) -> None:
        if self.until_stdin_closes and self.process.stdin is not None:
            self.process.stdin.close()
        else:
            self.process.terminate()


class Supervisor:
    """Starts children, restarts any that die (like an init system would), and stops them all in order.

    The children stay in the supervisor's process group, like a gunicorn master's workers: whoever
    signals or measures the group (a terminal's Ctrl-C, the test harness, the benchmark's CPU meter)
    reaches all of them.
    """

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        layer: int = 1,
        until_stdin_closes: bool = False,
    ) -> Child:
        process = self._spawn(list(argv), env, until_stdin_closes)
        child = Child(name, list(argv), env, layer, until_stdin_closes, process, time.monotonic())
        self.children.append(child)
        return child

    @staticmethod
    def _spawn(argv: list[str], env: Mapping[str, str] | None, until_stdin_closes: bool) -> subprocess.Popen:
        parent = os.getpid()
        return subprocess.Popen(
            argv,
            env=None if env is None else dict(env),
            stdin=subprocess.PIPE if until_stdin_closes else subprocess.DEVNULL,
            preexec_fn=lambda: _die_with(parent),
        )

    def wait_http(self, child: Child, url: str, timeout: float = 60.0) -> None:
        """Wait until url gives any HTTP answer (the server is up), or fail if the child exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_exited(child)
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise ChildFailed(f"{child.name} did not answer {url} within {timeout:.0f} s")

    def wait_tcp(self, child: Child, host: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_exited(child)
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ChildFailed(f"{child.name} did not listen on {host}:{port} within {timeout:.0f} s")

    @staticmethod
    def _fail_if_exited(child: Child) -> None:
        if child.process.poll() is not None:
            raise ChildFailed(f"{child.name} exited with code {child.process.returncode} while starting")

    def watch(self) -> None:
        """Restart children that die, until a signal (raised as an exception) or a child that keeps dying."""
        while True:
            for child in self.children:
                self._check(child)
            time.sleep(0.2)

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.process = self._spawn(child.argv, child.env, child.until_stdin_closes)
                child.started_at, child.restart_at = now, None
                print(f"{child.name}: restarted, pid {child.process.pid}", flush=True)
            return
        code = child.process.poll()
        if code is None:
            return
        child.quick_deaths = child.quick_deaths + 1 if now - child.started_at < STABLE_AFTER else 0
        if child.quick_deaths > MAX_QUICK_DEATHS:
            raise ChildFailed(f"{child.name} died {child.quick_deaths} times in a row soon after starting")
        print(f"{child.name}: exited with code {code}, restarting in {RESTART_DELAY:.0f} s", flush=True)
        child.restart_at = now + RESTART_DELAY

    def stop_all(self, signalled: bool) -> None:
        """Stop every child, highest layer first, each within STOP_TIMEOUT or SIGKILL.

        After a signal to the whole process group (Ctrl-C in a terminal, the test harness) the children
        got it too and are on their way out: telling them again could cut their own clean-up short
        (aiohttp ends it at a second SIGTERM), so they get GRACE first. Children a signal to the
        supervisor alone never reached are then told one layer at a time.
        """
        if signalled:
            self._wait([child for child in self.children if not child.until_stdin_closes], GRACE)
        for layer in sorted({child.layer for child in self.children}, reverse=True):
            running = [child for child in self.children if child.layer == layer and child.process.poll() is None]
            for child in running:
                child.stop()
            self._wait(running, STOP_TIMEOUT, kill=True)

    @staticmethod
    def _wait(children: list[Child], timeout: float, kill: bool = False) -> None:
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                if kill:
                    child.process.kill()
                    child.process.wait()


def owner_alive(pid: int) -> bool:
    """Is pid a running scale_out supervisor? (Names of our namespaces, links and folders carry its pid.)"""
    try:
        return b"scale_out" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@contextmanager
def run_directory() -> Iterator[Path]:
    """A private folder for config, pid, logs and temp files, removed at the end; stale ones first."""
    for stale in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*"):
        owner = stale.name.removeprefix(RUN_DIR_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not owner_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-"))
    path.chmod(0o755)  # nginx's workers run as an unprivileged user when we are root
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# The signals that ended this run: stop_all() acts differently when the process group was signalled.
RECEIVED: list[int] = []


def _exit_on_signal(signum: int, frame: object) -> None:
    RECEIVED.append(signum)
    raise SystemExit(128 + signum)  # unwinds the with-blocks, which stop everything


def handle_signals() -> None:
    """Ctrl-C, SIGTERM and a closed terminal all end the run through the same clean-up."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)


def ignore_signals() -> None:
    """During clean-up: a second Ctrl-C must not cut it short and leave namespaces behind."""
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def supervised() -> Iterator[Supervisor]:
    supervisor = Supervisor()
    try:
        yield supervisor
    finally:
        ignore_signals()
        supervisor.stop_all(signalled=bool(RECEIVED))
