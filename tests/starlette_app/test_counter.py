"""The WebSocket user counter with one worker (listing 9.9): real clients against `uvicorn --workers 1`."""

from __future__ import annotations

import asyncio
import json
import re
import time
import weakref
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from devenv import servers
from devenv.servers import RunningServer
from products_db.config import ConfigError
from starlette_app.counter import Counter
from starlette_app.counter_settings import CounterSettings
from starlette_app.page_headers import security_headers

pytestmark = pytest.mark.listing("9.9")

CONVERGE_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def counter_server(start_server) -> Iterator[RunningServer]:
    with start_server("counter") as server:
        yield server


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://", 1) + "/counter"


# The last count each client received: counts are state, so only the latest one matters.
LATEST: weakref.WeakKeyDictionary[ClientConnection, str] = weakref.WeakKeyDictionary()


async def wait_for_count(ws: ClientConnection, expected: int, within: float = CONVERGE_TIMEOUT) -> None:
    """Read counts until the latest one this client has seen is `expected`."""
    seen = []
    try:
        async with asyncio.timeout(within):
            while LATEST.get(ws) != str(expected):
                LATEST[ws] = await ws.recv()
                seen.append(LATEST[ws])
    except TimeoutError:
        raise AssertionError(f"expected the count {expected}, the client saw {seen}") from None


async def assert_stays(ws: ClientConnection, expected: int, quiet: float = 0.3) -> None:
    """Nothing different arrives for a while: the count has settled on `expected`, not passed through it."""
    try:
        async with asyncio.timeout(quiet):
            while True:
                message = LATEST[ws] = await ws.recv()
                assert message == str(expected), f"count moved on to {message} after settling on {expected}"
    except TimeoutError:
        pass


async def connect_counted(url: str, expected: int) -> ClientConnection:
    ws = await connect(url)
    await wait_for_count(ws, expected)
    return ws


@pytest.mark.listing("9.10")
def test_page_and_static_files_are_served(counter_server: RunningServer) -> None:
    page = httpx.get(counter_server.url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="counter"' in page.text and 'id="where"' in page.text and "/static/counter.js" in page.text
    script = httpx.get(counter_server.url + "/static/counter.js", timeout=10)
    assert script.status_code == 200
    # The WebSocket URL follows the page (the browser test opens it on a random port).
    assert "//${location.host}/counter" in script.text


async def test_the_first_message_says_where_the_websocket_landed(counter_server: RunningServer) -> None:
    ws = await connect(ws_url(counter_server))
    # The host is the address the server accepted the connection on; the worker is its pid.
    assert json.loads(await ws.recv()) == {"host": "127.0.0.1", "worker": counter_server.process.pid}
    assert await ws.recv() == "1"  # then the count, as in the book
    await ws.close()


def declines_compression(ws: ClientConnection) -> bool:
    """The client offered per-message-deflate (websockets does by default, as browsers do) and the server declined."""
    assert ws.request is not None and ws.response is not None
    offered = "permessage-deflate" in ws.request.headers.get("Sec-WebSocket-Extensions", "")
    return offered and "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_the_documented_command_declines_per_message_deflate(counter_server: RunningServer) -> None:
    ws = await connect_counted(ws_url(counter_server), 1)
    assert declines_compression(ws)
    await ws.close()


async def test_counts_on_connect_and_disconnect(counter_server: RunningServer) -> None:
    url = ws_url(counter_server)
    first = await connect_counted(url, 1)
    second = await connect_counted(url, 2)
    await wait_for_count(first, 2)
    third = await connect_counted(url, 3)
    for ws in (first, second):
        await wait_for_count(ws, 3)
    await second.close()
    for ws in (first, third):
        await wait_for_count(ws, 2)
        await assert_stays(ws, 2)
    await third.close()
    await wait_for_count(first, 1)
    await first.close()


async def test_abrupt_disconnect_is_counted_out(counter_server: RunningServer) -> None:
    url = ws_url(counter_server)
    stayer = await connect_counted(url, 1)
    leavers = [await connect(url) for _ in range(3)]
    await wait_for_count(stayer, 4)
    for ws in leavers:
        ws.transport.abort()  # TCP reset: no close frame, as when a laptop lid shuts or a process dies
    await wait_for_count(stayer, 1)
    await assert_stays(stayer, 1)
    await stayer.close()


async def open_non_reader(server: RunningServer) -> asyncio.StreamWriter:
    """A client that completes nothing on its side: it sends the upgrade request and never reads a byte."""
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /counter HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    return writer


async def test_a_client_that_never_reads_does_not_hold_up_the_others(counter_server: RunningServer) -> None:
    url = ws_url(counter_server)
    watcher = await connect_counted(url, 1)
    silent = await open_non_reader(counter_server)
    await wait_for_count(watcher, 2)
    # Every change still reaches the reading clients while the silent one sits there.
    others = []
    for expected in range(3, 13):
        others.append(await connect(url))
        await wait_for_count(watcher, expected, within=5)
    silent.transport.abort()
    await wait_for_count(watcher, 11)
    for ws in [*others, watcher]:
        await ws.close()


@pytest.mark.listing("9.10")
def test_page_and_static_files_send_security_headers(counter_server: RunningServer) -> None:
    host = f"127.0.0.1:{counter_server.port}"
    for path in ("/", "/static/counter.js", "/static/counter.css"):
        response = httpx.get(counter_server.url + path, timeout=10)
        assert response.status_code == 200, path
        policy = {
            directive.split()[0]: directive.split()[1:]
            for directive in response.headers["content-security-policy"].split("; ")
        }
        assert policy["default-src"] == ["'none'"], path
        # Scripts and styles only from the site's own files: nothing inline, nothing from elsewhere.
        assert policy["script-src"] == policy["style-src"] == ["'self'"], path
        # The page may open its own WebSocket, and nothing else (named too for browsers where 'self' has no ws:).
        assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"], path
        assert policy["frame-ancestors"] == ["'none'"], path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
    assert (
        httpx.get(counter_server.url + "/static/counter.css", timeout=10).headers["content-type"].startswith("text/css")
    )
    # The page itself has nothing that policy would block: no inline script, style or event handler.
    page = httpx.get(counter_server.url + "/", timeout=10).text
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/static/counter.js" defer>']
    assert "<style" not in page and not re.search(r"\s(style|on[a-z]+)=", page)


def test_a_host_header_cannot_write_the_policy() -> None:
    assert (
        "ws://example.com:8443 wss://example.com:8443;"
        in security_headers("example.com:8443")["Content-Security-Policy"]
    )
    assert "ws://[::1]:8000" in security_headers("[::1]:8000")["Content-Security-Policy"]
    # A Host with a ';' or spaces would add directives of its own: then only 'self' is allowed.
    for host in ("evil.example; script-src *", "a b", ""):
        policy = security_headers(host)["Content-Security-Policy"]
        assert "connect-src 'self';" in policy and "*" not in policy and "evil" not in policy


async def refused(url: str, origin: str) -> tuple[int, str, dict]:
    """The handshake's answer to a WebSocket opened with this Origin, which must be a refusal."""
    with pytest.raises(InvalidStatus) as refusal:
        await connect(url, origin=Origin(origin))
    answer = refusal.value.response
    return answer.status_code, answer.headers["content-type"], json.loads(answer.body or b"null")


async def test_a_page_of_another_site_cannot_open_the_websocket(counter_server: RunningServer) -> None:
    url = ws_url(counter_server)
    watcher = await connect_counted(url, 1)  # no Origin: not a browser, accepted as before
    for foreign in ("http://evil.example", "null", f"http://localhost:{counter_server.port}", "http://127.0.0.1:1"):
        status, content_type, body = await refused(url, foreign)
        assert (status, content_type) == (403, "application/json"), foreign
        error = f"this WebSocket may only be opened by pages of 127.0.0.1:{counter_server.port}, not by {foreign}"
        assert body == {"error": error}
    # The counter's own page (the same scheme, host and port as the WebSocket) is let in.
    page = await connect(url, origin=Origin(f"http://127.0.0.1:{counter_server.port}"))
    assert json.loads(await page.recv())["worker"] == counter_server.process.pid
    await wait_for_count(page, 2)
    # The refused ones were never counted.
    await wait_for_count(watcher, 2)
    await assert_stays(watcher, 2)
    await page.close()
    await watcher.close()
    assert "Exception" not in counter_server.log()


async def test_allowed_origins_may_open_the_websocket(start_server) -> None:
    env = {"COUNTER_ALLOWED_ORIGINS": "https://app.example, http://127.0.0.1:3000"}
    with start_server("counter", env=env) as server:
        url = ws_url(server)
        for origin in ("https://app.example", "http://127.0.0.1:3000", f"http://127.0.0.1:{server.port}"):
            ws = await connect(url, origin=Origin(origin))
            await wait_for_count(ws, 1)
            await ws.close()
        assert (await refused(url, "http://app.example"))[0] == 403  # not https: another origin


async def test_a_message_over_the_limit_closes_the_client_with_1009(counter_server: RunningServer) -> None:
    limit = CounterSettings().max_message
    url = ws_url(counter_server)
    watcher = await connect_counted(url, 1)
    talker = await connect_counted(url, 2)
    await talker.send(b"x" * limit)  # up to the limit: ignored, like any message
    await talker.send("é" * (limit // 2))  # counted in bytes: 2 per "é", so exactly the limit
    await assert_stays(talker, 2)
    for too_big in (b"x" * (limit + 1), "é" * (limit // 2 + 1), "x" * (4 * 1024 * 1024)):
        await talker.send(too_big)
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(CONVERGE_TIMEOUT):
                while True:
                    await talker.recv()
        assert talker.close_code == 1009, (len(too_big), talker.close_code)
        assert talker.close_reason == f"messages are limited to {limit} bytes"
        await wait_for_count(watcher, 1)  # the closed client is out of the count
        talker = await connect_counted(url, 2)
        await wait_for_count(watcher, 2)
    await talker.close()
    await watcher.close()
    assert "Exception" not in counter_server.log()


async def test_binary_and_text_messages_from_clients_are_ignored(counter_server: RunningServer) -> None:
    url = ws_url(counter_server)
    ws = await connect_counted(url, 1)
    await ws.send(b"\x00\x01")
    await ws.send("hello")
    await assert_stays(ws, 1)
    assert "Exception" not in counter_server.log()
    await ws.close()


# The broadcast itself, in process: a client whose send hangs or fails must not hold up the others.


class FakeSocket:
    """Stands in for a Starlette WebSocket: records what it is sent, or hangs, or fails."""

    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.received: list[tuple[float, str]] = []
        self.closed_with: int | None = None
        self.got_one = asyncio.Event()

    async def send_text(self, text: str) -> None:
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        if self.behaviour == "fail":
            raise ConnectionResetError("peer gone")
        self.received.append((time.monotonic(), text))
        self.got_one.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code
        if self.behaviour == "hang":
            await asyncio.Event().wait()


async def test_hanging_and_failing_sends_are_bounded_and_dropped() -> None:
    send_timeout = 0.5
    counter = Counter(send_timeout)
    good, hanging, failing = FakeSocket(), FakeSocket("hang"), FakeSocket("fail")
    start = time.monotonic()
    async with counter.running():
        for ws in (good, hanging, failing):
            counter.add(ws)  # type: ignore[arg-type]
        async with asyncio.timeout(5):
            while not good.received or good.received[-1][1] != "1":
                await good.got_one.wait()
                good.got_one.clear()
    first_at, first = good.received[0]
    # The good client got the count at once, not after the hanging send's timeout...
    assert first == "3" and first_at - start < send_timeout
    # ...and ends on the true count once the other two are dropped, within about one timeout.
    assert [text for _, text in good.received][-1] == "1"
    assert good.received[-1][0] - start < 3 * send_timeout
    assert list(counter.sockets) == [good]
    assert hanging.closed_with == 1008


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COUNTER_MODE": "redis"}, "COUNTER_MODE"),
        ({"COUNTER_HEARTBEAT": "5", "COUNTER_EXPIRY": "2"}, "COUNTER_HEARTBEAT"),
        ({"COUNTER_SEND_TIMEOUT": "0"}, "COUNTER_SEND_TIMEOUT"),
        ({"COUNTER_RETRY_MAX": "0"}, "COUNTER_RETRY_MAX"),
        ({"COUNTER_MAX_MESSAGE": "-1"}, "COUNTER_MAX_MESSAGE"),
        ({"COUNTER_HEARTBEAT": "soon"}, "COUNTER_HEARTBEAT"),
        ({"COUNTER_EXPIRY": "nan"}, "COUNTER_EXPIRY"),
        ({"COUNTER_SEND_TIMEOUT": "1s"}, "COUNTER_SEND_TIMEOUT"),
        ({"COUNTER_MAX_MESSAGE": "1e3"}, "COUNTER_MAX_MESSAGE"),
        ({"COUNTER_ALLOWED_ORIGINS": "app.example"}, "COUNTER_ALLOWED_ORIGINS"),
        ({"COUNTER_ALLOWED_ORIGINS": "https://app.example/counter"}, "COUNTER_ALLOWED_ORIGINS"),
    ],
)
def test_bad_counter_settings_are_refused(monkeypatch, env: dict[str, str], message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # ConfigError: what the app's module turns into one log line and exit code 3 (the test below).
    with pytest.raises(ConfigError, match=message):
        CounterSettings.from_env()


def test_a_wrong_counter_setting_stops_the_documented_command_with_one_line(database_url: str) -> None:
    code, output = servers.run_to_exit("counter", database_url, env={"COUNTER_HEARTBEAT": "soon"})
    assert "Traceback" not in output
    assert "COUNTER_HEARTBEAT must be a positive number, got 'soon'" in output
    assert code == 3  # uvicorn's "worker failed to boot": a supervisor stops instead of restarting it


def test_counter_settings_defaults(monkeypatch) -> None:
    for key in (
        "COUNTER_MODE",
        "COUNTER_HEARTBEAT",
        "COUNTER_EXPIRY",
        "COUNTER_SEND_TIMEOUT",
        "COUNTER_RETRY_MAX",
        "COUNTER_MAX_MESSAGE",
        "COUNTER_ALLOWED_ORIGINS",
    ):
        monkeypatch.delenv(key, raising=False)
    assert CounterSettings.from_env() == CounterSettings("memory", 1.0, 5.0, 1.0)
    assert CounterSettings.from_env() == CounterSettings("memory", 1.0, 5.0, 1.0, 2.0, 1024, frozenset())


def test_allowed_origins_are_read_as_a_browser_sends_them(monkeypatch) -> None:
    monkeypatch.setenv("COUNTER_ALLOWED_ORIGINS", "https://App.example/, http://127.0.0.1:3000")
    assert CounterSettings.from_env().allowed_origins == {"https://app.example", "http://127.0.0.1:3000"}
