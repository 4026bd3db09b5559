"""The requests views are no way into the server's network (SSRF): only public addresses by default, checked on the
address connected to, redirects not followed, and failures that do not tell open ports from closed ones."""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import sys
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from devenv import servers
from products_db.config import connect_params

from .support import DEFAULT_TARGETS_ENV, NO_ANSWER, REFUSED, TEST_ENV, VIEWS_SERVERS, Tables, paths
from .target import Target, closed_port_url, not_http_port, running_target

BATCH_VIEWS = ["/requests/", "/requests/async_to_sync"]

# Addresses of this machine or of the network around it, each spelled as a URL's host.
INTERNAL_HOSTS = [
    "127.0.0.1",
    "127.0.0.2",
    "[::1]",
    "0.0.0.0",  # connecting to it reaches this machine
    "[::ffff:127.0.0.1]",  # IPv4 inside IPv6
    "127.1",  # old numeric forms of 127.0.0.1
    "2130706433",
    "0x7f.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.0.1",
    "169.254.169.254",  # the metadata service of most clouds
    "100.64.0.1",  # carrier-grade NAT
    "[fe80::1]",
    "[fd00::1]",
    "224.0.0.1",
    "240.0.0.1",
]


def batch(server: servers.RunningServer, path: str, url: str, request_num: int = 2) -> httpx.Response:
    return httpx.get(server.url + path, params={"url": url, "request_num": request_num}, timeout=60)


def rows(response: httpx.Response, table: str) -> list[str]:
    """The first cell of each row of a batch page's table: the failure reasons, or the success statuses."""
    assert response.status_code == 200, response.text
    return [row[0] for row in Tables(response.text).tables.get(table, [[]])[1:]]


@pytest.fixture(scope="module", params=VIEWS_SERVERS)
def default_server(request: pytest.FixtureRequest, start_server) -> Iterator[servers.RunningServer]:
    """The views as deployed: ASYNC_API_ALLOWED_TARGET_HOSTS not set."""
    with start_server(request.param, env=DEFAULT_TARGETS_ENV) as server:
        yield server


@pytest.fixture(scope="module", params=VIEWS_SERVERS)
def localhost_server(request: pytest.FixtureRequest, start_server) -> Iterator[servers.RunningServer]:
    """The views allowed to call localhost, and no other host."""
    with start_server(request.param, env={**TEST_ENV, "ASYNC_API_ALLOWED_TARGET_HOSTS": "localhost"}) as server:
        yield server


@pytest.fixture(scope="module")
def internal() -> Iterator[Target]:
    """A second local server, standing for what must stay out of reach: it counts every request it gets."""
    with running_target() as running:
        yield running


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_an_internal_address_is_refused_by_default(default_server, target: Target, path: str, host: str) -> None:
    key = f"address {default_server.command.name} {path} {host}"
    response = batch(default_server, path, target.url(host=host, key=key))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    error = Tables(response.text).by_id["error"]
    assert "is not a public address" in error and "ASYNC_API_ALLOWED_TARGET_HOSTS" in error, error
    assert target.seen[key] == 0


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_a_name_of_an_internal_address_is_refused_when_connecting(default_server, target: Target, path: str) -> None:
    # Only a lookup tells where a name leads: the views look it up once, drop the addresses
    # that are not public, and connect to what is left (nothing here).
    key = f"name {default_server.command.name} {path}"
    response = batch(default_server, path, target.url(host="localhost", key=key), request_num=3)
    assert rows(response, "failures") == [REFUSED] * 3
    assert "successes" not in Tables(response.text).tables
    assert target.seen[key] == 0


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_a_named_host_is_called_whatever_its_address(views_server, target: Target, path: str) -> None:
    key = f"named {views_server.command.name} {path}"
    # 127.0.0.1 is in ASYNC_API_ALLOWED_TARGET_HOSTS (the default server refuses it: see above).
    assert rows(batch(views_server, path, target.url(key=key), request_num=3), "successes") == ["200"] * 3
    assert target.seen[key] == 3


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
@pytest.mark.parametrize("to", ["127.0.0.1", "localhost"])
def test_a_redirect_is_an_answer_and_is_not_followed(
    localhost_server, target: Target, internal: Target, path: str, to: str
) -> None:
    # An allowed host answers 302 to an address the views may not call (127.0.0.1), or to
    # another port of the allowed host: the redirect is listed, and not one request goes there.
    key = f"redirect {localhost_server.command.name} {path} {to}"
    url = target.url(host="localhost", status=302, location=internal.url(host=to, key=key))
    assert rows(batch(localhost_server, path, url, request_num=3), "successes") == ["302"] * 3
    assert internal.seen[key] == 0


@pytest.fixture(scope="module")
def greeting_port() -> Iterator[int]:
    with not_http_port(b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n") as port:
        yield port


@pytest.fixture(scope="module")
def silent_then_closing_port() -> Iterator[int]:
    with not_http_port(b"") as port:
        yield port


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_closed_and_open_ports_that_do_not_answer_http_fail_alike(
    views_server, path: str, greeting_port: int, silent_then_closing_port: int, database_url: str
) -> None:
    urls = {
        "closed": closed_port_url(),
        "greets": f"http://127.0.0.1:{greeting_port}/",
        "hangs up": f"http://127.0.0.1:{silent_then_closing_port}/",
    }
    db = connect_params(database_url)
    if db.get("host") in ("127.0.0.1", "localhost") and db.get("port"):
        urls["postgres"] = f"http://127.0.0.1:{db['port']}/"  # the test database itself
    reasons = {what: rows(batch(views_server, path, url), "failures") for what, url in urls.items()}
    assert reasons == {what: [NO_ANSWER] * 2 for what in urls}


def load_outbound():
    """async_api.outbound by file: the Django project is not on our path (the module needs no Django)."""
    path = servers.REPO_ROOT / "django_async_views" / "async_api" / "outbound.py"
    spec = importlib.util.spec_from_file_location("django_outbound_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Rebinding(AbstractResolver):
    """A name server that answers a public address to the first lookup and 127.0.0.1 to the ones after."""

    def __init__(self) -> None:
        self.lookups = 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        self.lookups += 1
        address = "93.184.215.14" if self.lookups == 1 else "127.0.0.1"
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        pass


@pytest.mark.listing("9.11")
async def test_the_address_checked_is_the_address_connected_to(target: Target) -> None:
    """DNS rebinding: a name that is public when a check looks it up, and 127.0.0.1 when the connection does.
    The check sits in the lookup aiohttp connects with, so there is no second lookup to differ from the first."""
    outbound = load_outbound()
    policy = outbound.TargetPolicy.of(())
    lookup = Rebinding()
    # What a check with a lookup of its own would have seen, and let through:
    [checked] = await lookup.resolve("rebinding.example")
    assert outbound.is_public(ipaddress.ip_address(checked["host"]))
    connector = aiohttp.TCPConnector(resolver=outbound.PolicyResolver(policy, lookup), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as raised:
            await session.get(f"http://rebinding.example:{target.port}/?key=rebinding")
    assert isinstance(raised.value.os_error, outbound.RefusedByPolicy)
    assert outbound.failure_reason(raised.value, answered=False, timeout=1) == REFUSED
    assert lookup.lookups == 2
    assert target.seen["rebinding"] == 0
