"""A route to Postgres across a real link that a test can cut: packets dropped, as in a network cut.

A plugin of the suite (tests/conftest.py): the fixture cuttable_route gives a DATABASE_URL through the link
and the means to set it down and up. A proxy on loopback cannot play this part for TCP's own checks: its
kernel acknowledges every byte (tests/silent_proxy.py). Here the way to Postgres crosses a veth pair into a
network namespace:

    client -> the namespace's address, a forwarder -> our end's address, a forwarder -> Postgres
                 (across the veth link)                 (back across it)

The forwarders are scale_out/forward.py. Namespaces need root, as in CI: without root the fixture skips
locally and fails in CI.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest

from scale_out.network import free_subnet, ip, ip_binary, our_names, remove, setup_lock
from tests.conftest import require_tool, tool_missing

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CuttableRoute:
    database_url: str  # through the link
    link: str  # the root namespace's end of the veth pair

    def cut(self) -> None:
        ip("link", "set", self.link, "down")

    def restore(self) -> None:
        ip("link", "set", self.link, "up")


NAME = re.compile(r"^cut(\d+)r?$")  # the namespace cut<pid>, the link's root end cut<pid>r


def remove_stale() -> None:
    """Namespaces and links a killed test run left behind (their pytest is gone)."""
    for owner, kind, name in sorted(our_names(NAME), key=lambda item: item[1] != "netns"):  # namespaces first
        if not psutil.pid_exists(owner):
            remove(kind, name)


@contextmanager
def namespace_across_a_link() -> Iterator[tuple[str, str, str, str]]:
    """A network namespace joined to this one by one veth pair: (namespace, our end of the pair, our address, its)."""
    netns, link = f"cut{os.getpid()}", f"cut{os.getpid()}r"
    with setup_lock():  # scale_out's: no cluster starting now takes the same subnet
        remove_stale()
        ours, theirs = list(free_subnet().hosts())[:2]
        try:
            ip("netns", "add", netns)
            ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
            ip("addr", "add", f"{ours}/24", "dev", link)
            ip("link", "set", link, "up")
            ip("-n", netns, "addr", "add", f"{theirs}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
        except BaseException:
            remove("netns", netns)
            remove("link", link)
            raise
    try:
        yield netns, link, str(ours), str(theirs)
    finally:
        remove("netns", netns)
        remove("link", link)


@contextmanager
def forwarder(argv: list[str]) -> Iterator[None]:
    """scale_out/forward.py, listening once it has printed its line; it stops when its stdin closes."""
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("forwarding "), line
        yield
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@pytest.fixture
def cuttable_route(database_url: str) -> Iterator[CuttableRoute]:
    if os.geteuid() != 0:
        tool_missing("cutting a link needs a network namespace, and so root: run the suite as root (as CI does)")
    require_tool("ip", "apt-get install iproute2")
    parts = urlsplit(database_url)
    forward = [sys.executable, "-m", "scale_out.forward"]
    postgres = [parts.hostname or "127.0.0.1", str(parts.port or 5432)]
    with namespace_across_a_link() as (netns, link, ours, theirs):
        our_port, their_port = free_port(ours), 5432  # the namespace is ours alone
        with (
            forwarder([*forward, ours, str(our_port), *postgres]),
            forwarder([ip_binary(), "netns", "exec", netns, *forward, theirs, str(their_port), ours, str(our_port)]),
        ):
            user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
            url = urlunsplit(parts._replace(netloc=f"{user}{theirs}:{their_port}"))
            yield CuttableRoute(url, link)
