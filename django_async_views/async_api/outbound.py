"""Where the requests views may send their requests, how much they may read, and what a failed one may tell.

The views fetch a URL a visitor chose, from inside our network. Without rules anyone could use them to reach
what sits behind it (server-side request forgery, SSRF): the database on 127.0.0.1:5432, a cloud's metadata
service on 169.254.169.254, the admin page of a router on 192.168.0.1; and the failures table would map which
ports are open. So: only public addresses, unless the operator names a host; the check is made on the address
actually connected to; redirects are not followed (requests_batch.py); and failures before an HTTP answer all
read the same. The visitor also chooses how much is read: ReadBudget caps one answer and the whole batch, so a
hundred copies of a huge page cannot fill the server's memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED = "RefusedByPolicy: not a public address (ASYNC_API_ALLOWED_TARGET_HOSTS opens a host)"
NO_ANSWER = "ConnectionError: no HTTP answer (could not connect, or the answer was not HTTP)"


def is_public(address: IPAddress) -> bool:
    """An address of the internet at large: not loopback, private, link-local, shared (carrier NAT), reserved,
    unspecified (0.0.0.0 reaches this machine) or multicast."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one: ::ffff:127.0.0.1 is 127.0.0.1, and 2002:7f00:1:: reaches it by 6to4.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells out, None for a name. Old numeric forms count (127.1, 2130706433,
    0x7f.1: the C library reads them as 127.0.0.1), so they cannot pass for names."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def host_key(host: str) -> str:
    """A host as the allow-list spells it: lower case, no [ ] around an IPv6 address, no trailing dot."""
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


@dataclass(frozen=True)
class TargetPolicy:
    """No allowed hosts: any host whose addresses are public. Otherwise the named hosts only, whatever their
    addresses: the operator chose them (127.0.0.1 and localhost for the demo's own aiohttp API)."""

    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, hosts: tuple[str, ...]) -> TargetPolicy:
        return cls(frozenset(host_key(host) for host in hosts))

    def refusal(self, host: str) -> str | None:
        """Why the URL's host is refused before any request, or None. A name's addresses are checked
        later, when connecting (PolicyResolver), since only that lookup counts."""
        if self.allowed_hosts:
            if host_key(host) in self.allowed_hosts:
                return None
            return f"url host {host!r} is not allowed here; allowed hosts: {', '.join(sorted(self.allowed_hosts))}"
        address = literal_address(host_key(host))
        if address is not None and not is_public(address):
            return (
                f"url host {host!r} is not a public address: these views call public addresses only "
                "(ASYNC_API_ALLOWED_TARGET_HOSTS names the hosts they may call instead)"
            )
        return None

    def allows(self, host: str, address: str) -> bool:
        return host_key(host) in self.allowed_hosts or is_public(ipaddress.ip_address(address))


class RefusedByPolicy(OSError):
    """None of a host's addresses may be called (aiohttp hands it on inside a ClientConnectorDNSError)."""


class PolicyResolver(AbstractResolver):
    """The system's lookup (getaddrinfo, as aiohttp's ThreadedResolver does it), less the addresses refused.

    aiohttp connects to exactly the addresses returned here, so the check and the connection cannot
    disagree. Checking a lookup of our own beforehand would not do: a name can answer a public address
    to the check and 127.0.0.1 a moment later to the connection (DNS rebinding). aiohttp connects to an
    address written in the URL without a lookup; TargetPolicy.refusal has checked those already.
    """

    def __init__(self, policy: TargetPolicy, lookup: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._lookup = lookup or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._lookup.resolve(host, port, family)
        allowed = [result for result in found if self._policy.allows(host, result["host"])]
        if not allowed:
            raise RefusedByPolicy(f"no address of {host} may be called")
        return allowed

    async def close(self) -> None:
        await self._lookup.close()


class AnswerTooLarge(Exception):
    """An answer read past the bytes allowed: the request stops reading and fails."""


class ReadBudget:
    """The bytes a batch may read: at most max_answer of one answer, max_batch of all of them.

    The batch's requests share it without a lock: they run on one thread, one event loop,
    and none awaits between reading `read` and adding to it.
    """

    def __init__(self, max_answer: int, max_batch: int) -> None:
        self.max_answer = max_answer
        self.max_batch = max_batch
        self.read = 0

    def check_declared(self, content_length: int | None) -> None:
        if content_length is not None and content_length > self.max_answer:
            raise AnswerTooLarge(self.over_answer(f"declares {content_length:,} bytes"))

    def take(self, chunk: int, answer_so_far: int) -> None:
        self.read += chunk
        if answer_so_far > self.max_answer:
            raise AnswerTooLarge(self.over_answer("stopped reading"))
        if self.read > self.max_batch:
            raise AnswerTooLarge(
                f"the batch read over {self.max_batch:,} bytes (ASYNC_API_MAX_BATCH_BYTES), stopped reading"
            )

    def over_answer(self, what: str) -> str:
        return f"the answer is over {self.max_answer:,} bytes (ASYNC_API_MAX_RESPONSE_BYTES), {what}"


def failure_reason(error: BaseException, answered: bool, timeout: float | None) -> str:
    """One line for the failures table.

    Until an HTTP answer has begun, every failure reads the same: "connection refused" against a reset
    or a database's or SSH server's greeting shown as a parse error would tell which ports of a host are
    open, and what runs there. Policy refusals and timeouts keep their own words: they say nothing about
    a port (the time taken still differs, refused at once against silent until the timeout, which no
    wording hides; the address policy keeps internal hosts out of reach in the first place). Once an
    HTTP answer has begun the peer speaks HTTP, and the exact error helps whoever tests their own server.
    """
    if isinstance(error, asyncio.TimeoutError):
        return f"TimeoutError: no complete answer within {timeout:g} s"
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(error.os_error, RefusedByPolicy):
        return REFUSED
    if not answered:
        return NO_ANSWER
    return f"{type(error).__name__}: {str(error) or repr(error)}"
