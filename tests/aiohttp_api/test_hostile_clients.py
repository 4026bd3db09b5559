"""Hostile clients against both aiohttp commands: requests its parser refuses, and a body that stalls.

Raw sockets, so a request can be as broken as a client likes. One server per command for the whole module.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from devenv.servers import RunningServer
from products_db.timeouts import BodyTimeout
from tests.conftest import commands, get_with_headers, log_lines, raw_exchange, raw_request
from tests.figures import record

BODY_TIMEOUT = 1.0  # low, so that the 408 test is short
REPEAT = 20  # malformed requests of each kind: their log must not grow with them

# What aiohttp's parser refuses, and the status each gets; a 400 says "malformed request: <aiohttp's reason>".
MALFORMED = {
    "a non-ASCII byte in the path": (b"GET /br\xffands HTTP/1.1\r\nHost: x\r\n\r\n", 400, None),
    "garbage in the request line": (b"GET /brands HTTP/1.1 junk\r\nHost: x\r\n\r\n", 400, None),
    "TLS bytes for a request": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n", 400, None),
    "a NUL byte in a header value": (b"GET /brands HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, None),
    "a 100 KB query string": (
        b"GET /brands?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
        "the URL is longer than 8192 bytes",
    ),
    "a header field over 8190 bytes": (
        b"GET /brands HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        431,
        "a request header field is longer than 8190 bytes",
    ),
    "200 header fields": (
        b"GET /brands HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H-%d: v\r\n" % i for i in range(200)) + b"\r\n",
        431,
        "request has more than 128 header fields",
    ),
}

REFUSALS = "aiohttp_api.malformed_requests"  # the logger of the line each refused request costs
# A log line at WARNING or above, in the shared format (products_db/logs.py) or gunicorn's own ("[ERROR]").
LOUD = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


@pytest.fixture(scope="module", params=commands("aiohttp", "aiohttp-gunicorn"))
def server(request: pytest.FixtureRequest, start_server) -> Iterator[RunningServer]:
    with start_server(request.param, env={"BODY_TIMEOUT": str(BODY_TIMEOUT)}) as running:
        yield running


def answer(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send request bytes, read until the server closes: status, headers (lower-case names), body."""
    data = raw_exchange(port, request)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(("request_bytes", "status", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_gets_a_json_4xx_and_no_log_flood(
    server: RunningServer, request_bytes: bytes, status: int, message: str | None
) -> None:
    logged_before = len(server.log())
    got, headers, body = answer(server.port, request_bytes)
    assert got == status, body[:300]
    assert headers["content-type"].startswith("application/json"), headers
    assert headers["connection"].lower() == "close", headers
    error = json.loads(body)["error"]
    assert error == message if message else error.startswith("malformed request: "), error
    for _ in range(REPEAT - 1):
        assert answer(server.port, request_bytes)[0] == status
    # The client's fault: one INFO line each, and no traceback.
    logged = server.log()[logged_before:]
    # (gunicorn's second worker may announce itself once the first already answers.)
    lines = [line for line in logged.splitlines() if "Booting worker with pid" not in line]
    record("log-bytes", f"`{server.command.name}`: log per refused request", len(logged.encode()) / REPEAT, "B")
    assert len(lines) <= REPEAT, logged[-2000:]
    assert not LOUD.search(logged), logged[-2000:]
    refused = [line["message"] for line in log_lines(logged, "INFO") if line["logger"] == REFUSALS]
    assert refused == [f"refused a request from 127.0.0.1 with {status}: {error}"] * REPEAT, logged[-2000:]
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(("fields", "status"), [(128, 200), (129, 431)])
def test_header_count_bound(server: RunningServer, fields: int, status: int) -> None:
    """aiohttp's own bound: 128 fields."""
    line, body = get_with_headers(server.port, fields)
    assert line.split(b" ")[1] == str(status).encode(), line + body[:300]


@pytest.mark.parametrize(("length", "status"), [(8192, 200), (8193, 414)])
def test_url_bound(server: RunningServer, length: int, status: int) -> None:
    """8 KiB (malformed_requests.MAX_URL_BYTES), a bound apart from a header field's."""
    url = b"/brands?q=" + b"a" * (length - len(b"/brands?q="))
    line, body = raw_request(server.port, b"GET " + url + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert line.split(b" ")[1] == str(status).encode(), line + body[:300]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_stalled_body_is_answered_408_and_its_connection_closed(server: RunningServer, chunked: bool) -> None:
    """Not kept open after the 408 while aiohttp waits for the rest of a body that is not coming."""
    framing = b"Transfer-Encoding: chunked\r\n\r\n6\r\n" if chunked else b"Content-Length: 100\r\n\r\n"
    head = b"POST /product HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + b'{"prod')  # 6 bytes of the body, then nothing
        started = time.monotonic()
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        closed_after = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert json.loads(data.partition(b"\r\n\r\n")[2]) == {"error": BodyTimeout(BODY_TIMEOUT).message}
    # Generous on a shared machine; aiohttp's lingering kept it open 10 s longer.
    assert closed_after < BODY_TIMEOUT + 2, closed_after
    record(
        "stalled-body",
        f"`{server.command.name}`: closed after a stalled body, `BODY_TIMEOUT={BODY_TIMEOUT:g}`",
        closed_after,
        "s",
    )
