"""Hosts on one machine: a network namespace per host on a private bridge (as root), or a loopback address each.

Namespace mode, as root: each host is a network namespace with one veth link to a bridge in the root
namespace. The bridge holds 10.213.X.1 (X picked so that concurrent clusters never share a subnet), host k
holds 10.213.X.(k+1), and nothing else: a host has no default route, so it can only reach the bridge's
subnet. Everything is named after the supervisor's pid ("scl<pid>..."), so a later run can tell its own
leftovers from a live cluster's and remove them, also after a `kill -9` that ran no clean-up.

Loopback mode, without root: host k is the address 127.0.0.(k+1); all of Linux's 127.0.0.0/8 is loopback.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .supervisor import ignore_signals, owner_alive

PREFIX = "scl"  # + pid: interface names must fit in 15 characters
SUPERNET = ipaddress.IPv4Network("10.213.0.0/16")
OUR_NAME = re.compile(rf"^{PREFIX}(\d+)(?:b|v\d+|-h\d+)$")


def ip_binary() -> str:
    return shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin") or "ip"


def ip(*args: str, check: bool = True) -> str:
    result = subprocess.run([ip_binary(), *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def bridge_name(owner: int) -> str:
    return f"{PREFIX}{owner}b"


def link_name(owner: int, index: int) -> str:
    """The root namespace's end of host `index`'s veth pair: set it down and the host is cut off."""
    return f"{PREFIX}{owner}v{index}"


def netns_name(owner: int, index: int) -> str:
    return f"{PREFIX}{owner}-h{index}"


@dataclass(frozen=True)
class Host:
    index: int
    address: str
    netns: str | None = None  # None in loopback mode
    link: str | None = None

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv run on this host: inside its namespace (`ip netns exec` execs it, no extra process)."""
        return [ip_binary(), "netns", "exec", self.netns, *argv] if self.netns else list(argv)


@dataclass(frozen=True)
class Network:
    mode: str  # "namespace" or "loopback"
    hosts: list[Host]
    gateway: str | None = None  # the bridge's address, the one root-namespace address hosts can reach
    subnet: str | None = None

    def describe(self) -> str:
        if self.mode == "loopback":
            return f"loopback mode: one address per host, {self.hosts[0].address} to {self.hosts[-1].address}"
        names = f"{self.hosts[0].netns} to {self.hosts[-1].netns}"
        return f"network namespace mode: namespaces {names} on bridge {bridge_name(os.getpid())}, {self.subnet}"


def our_names(pattern: re.Pattern[str] = OUR_NAME) -> list[tuple[int, str, str]]:
    """(owner pid, kind, name) of every namespace and link whose name matches (group 1: the owner), live or stale."""
    found = []
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if match := pattern.match(name):
            found.append((int(match.group(1)), "netns", name))
    for line in ip("-o", "link", "show", check=False).splitlines():
        name = line.split(":")[1].strip().split("@")[0] if line.count(":") >= 2 else ""
        if match := pattern.match(name):
            found.append((int(match.group(1)), "link", name))
    return found


def remove(kind: str, name: str) -> None:
    if kind == "netns":
        for pid in ip("netns", "pids", name, check=False).split():
            try:
                os.kill(int(pid), 9)  # a leftover process would keep the namespace alive
            except ProcessLookupError:
                pass
        ip("netns", "delete", name, check=False)
    else:
        ip("link", "delete", name, check=False)  # deleting one end of a veth pair deletes both


def remove_stale() -> list[str]:
    """Remove namespaces and links whose supervisor is gone; a live cluster's are left alone."""
    stale = [(kind, name) for owner, kind, name in our_names() if not owner_alive(owner)]
    for kind, name in sorted(stale, key=lambda item: item[0] != "netns"):  # namespaces first
        remove(kind, name)
    return [name for _, name in stale]


def free_subnet() -> ipaddress.IPv4Network:
    """The first 10.213.X.0/24 that no address or route of this machine touches (the default route aside)."""
    listed = ip("-o", "-4", "addr", "show") + ip("-4", "route", "show")
    taken = [ipaddress.ip_network(found, strict=False) for found in re.findall(r"\d+\.\d+\.\d+\.\d+(?:/\d+)?", listed)]
    for subnet in SUPERNET.subnets(new_prefix=24):
        if not any(subnet.overlaps(network) for network in taken if network.prefixlen > 0):
            return subnet
    raise RuntimeError(f"no /24 of {SUPERNET} is free of this machine's addresses and routes")


def create_namespaces(count: int) -> Network:
    owner = os.getpid()
    subnet = free_subnet()
    addresses = list(subnet.hosts())  # .1 is the bridge, .2 onwards the hosts
    bridge = bridge_name(owner)
    ip("link", "add", bridge, "type", "bridge")
    ip("addr", "add", f"{addresses[0]}/{subnet.prefixlen}", "dev", bridge)
    ip("link", "set", bridge, "up")
    hosts = []
    for index in range(1, count + 1):
        netns, link, address = netns_name(owner, index), link_name(owner, index), addresses[index]
        ip("netns", "add", netns)
        ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("link", "set", link, "master", bridge, "up")
        ip("-n", netns, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        hosts.append(Host(index, str(address), netns, link))
    return Network("namespace", hosts, str(addresses[0]), str(subnet))


@contextmanager
def setup_lock() -> Iterator[None]:
    """Two clusters starting at once must not pick the same subnet, or remove each other's half-made links."""
    with open(Path(tempfile.gettempdir()) / "scale-out-network.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def hosts_network(count: int, mode: str = "auto") -> Iterator[Network]:
    """The hosts' network for as long as the cluster runs; removed afterwards, whatever happens."""
    root = os.geteuid() == 0 and shutil.which(ip_binary()) is not None
    if mode == "auto":
        mode = "namespace" if root else "loopback"
    if root:
        with setup_lock():
            remove_stale()  # a run killed with SIGKILL left them: whatever the mode, remove them now
    if mode == "loopback":
        yield Network("loopback", [Host(index, f"127.0.0.{index + 1}") for index in range(1, count + 1)])
        return
    if os.geteuid() != 0:
        raise RuntimeError("namespace mode needs root: run as root, or use --mode loopback")
    try:
        with setup_lock():
            network = create_namespaces(count)
        yield network
    finally:
        ignore_signals()
        for owner, kind, name in sorted(our_names(), key=lambda item: item[1] != "netns"):
            if owner == os.getpid():
                remove(kind, name)
