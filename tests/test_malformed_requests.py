"""Requests no HTTP parser accepts: a clear 4xx from whichever layer refuses them, one quiet log line at most.

A malformed request is the client's fault, and anybody can send thousands: each may cost a line at INFO (the
servers' "Invalid request" lines, lowered from WARNING by products_db/logs.py), never a traceback or a
warning. The answer is JSON wherever the application or a server setting decides it: the apps' header limits,
Flask's malformed chunked body, nginx's own errors. Where a server's parser answers before any app code runs
(uvicorn's, gunicorn's sync worker), the test pins the bytes it sends, which RELIABILITY.md lists. aiohttp's
own parser answers are tested in tests/aiohttp_api/.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from devenv import servers
from tests.figures import record

HOST = b"Host: 127.0.0.1\r\n"
KINDS: dict[str, bytes] = {
    "non-ASCII path": b"GET /br\xffands HTTP/1.1\r\n" + HOST + b"\r\n",
    "header line of 9,000 bytes": b"GET /brands HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n",
    "200 header fields": b"GET /brands HTTP/1.1\r\n"
    + HOST
    + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    + b"\r\n",
    "query of 100 KB": b"GET /brands?" + b"a" * 100_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
    "garbage request line": b"HELLO THERE\r\n\r\n",
    "space in a header name": b"GET /brands HTTP/1.1\r\n" + HOST + b"Bad Name: v\r\n\r\n",
    "gzip transfer coding": b"POST /product HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n",
    "bad chunk size": b"POST /product HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\nzz\r\n",
}

# What each server's parser sends before any app code runs.
UVICORN_400 = (400, "text/plain; charset=utf-8", b"Invalid HTTP request received.")
JSON = "application/json"


def gunicorn_html(status: int) -> tuple[int, str, None]:
    return (status, "text/html", None)  # an HTML page naming the error


# For each server family: status, content type, and the exact body (None: a page; JSON bodies are checked apart).
EXPECTED: dict[str, dict[str, tuple[int, str, bytes | None]]] = {
    "gunicorn sync worker": {
        "non-ASCII path": gunicorn_html(400),
        "header line of 9,000 bytes": gunicorn_html(431),
        "200 header fields": gunicorn_html(431),
        "query of 100 KB": gunicorn_html(414),
        "garbage request line": gunicorn_html(400),
        "space in a header name": gunicorn_html(400),
        "gzip transfer coding": gunicorn_html(400),
        "bad chunk size": (400, JSON, None),  # gunicorn parses a chunked body as the app reads it
    },
    "uvicorn": {
        **dict.fromkeys(KINDS, UVICORN_400),
        # uvicorn reads a whole header section; the apps' header limits answer (products_db/http_limits.py).
        "header line of 9,000 bytes": (431, JSON, None),
        "200 header fields": (431, JSON, None),
    },
    "nginx": {
        # nginx passes these two on: aiohttp's parser refuses them (aiohttp_api/malformed_requests.py).
        "non-ASCII path": (400, JSON, None),
        "200 header fields": (431, JSON, None),
        "header line of 9,000 bytes": (431, JSON, b'{"error": "a request header field is larger than 8 KiB"}\n'),
        "query of 100 KB": (414, JSON, b'{"error": "the request line is longer than 8 KiB"}\n'),
        "garbage request line": (400, JSON, b'{"error": "malformed HTTP request"}\n'),
        "space in a header name": (400, JSON, b'{"error": "malformed HTTP request"}\n'),
        "gzip transfer coding": (501, JSON, b'{"error": "unsupported Transfer-Encoding"}\n'),
        "bad chunk size": (400, JSON, b'{"error": "malformed HTTP request"}\n'),
    },
}
FAMILY = {
    "flask": "gunicorn sync worker",
    "django-wsgi": "gunicorn sync worker",
    "starlette": "uvicorn",
    "starlette-gunicorn": "uvicorn",
    "django-asgi": "uvicorn",
    "aiohttp-nginx": "nginx",  # nginx's own answers, and aiohttp's for what nginx passes on
}
SERVER_ENV = {"SECRET_KEY": "test-only-secret-key-for-the-malformed-requests-0123456789"}
REPEATS = 10
NOT_BELOW_WARNING = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


def exchange(port: int, raw: bytes) -> bytes:
    """Send raw bytes, read the answer until the server closes or the body is complete.

    Unlike tests.conftest.raw_exchange, this stops at the end of the body: nginx keeps its client's connection
    open after passing on an app's answer, even one sent with Connection: close.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass  # the server may answer and close before it has read everything
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break
        return data


def quiet_log(server: servers.RunningServer) -> str:
    """The server's log once it has stopped growing: its workers write on their own time."""
    text, deadline = server.log(), time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if (now := server.log()) == text:
            break
        text = now
    return text


@pytest.fixture(scope="module", params=list(FAMILY))
def server(request: pytest.FixtureRequest, start_server) -> Iterator[servers.RunningServer]:
    with start_server(request.param, env=SERVER_ENV if request.param.startswith("django") else {}) as running:
        yield running


@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_request_is_a_4xx_and_one_quiet_line_at_most(server: servers.RunningServer, kind: str) -> None:
    status, content_type, body = EXPECTED[FAMILY[server.command.name]][kind]
    before = quiet_log(server)
    answers = [exchange(server.port, KINDS[kind]) for _ in range(REPEATS)]
    added = quiet_log(server)[len(before) :]

    for answer in answers:
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d" % status), answer[:300]
        assert re.search(rb"(?im)^content-type:\s*" + re.escape(content_type.encode()), head), head
        if content_type == JSON and b"transfer-encoding: chunked" not in head.lower():
            assert re.fullmatch(rb'\{"error": ?".+"\}\n?', content), content
        if body is not None:
            assert content == body
    lines = added.splitlines()
    # RELIABILITY.md's log bytes per refused request: the lowest and highest over the kinds, per command.
    record("log-bytes", f"`{server.command.name}`: log per refused request", len(added.encode()) / REPEATS, "B")
    assert len(lines) <= REPEATS, added
    assert not NOT_BELOW_WARNING.search(added), added


@pytest.mark.parametrize("name", ["django-asgi", "django-wsgi"])
def test_a_host_django_does_not_serve_is_a_silent_json_400(start_server, name: str) -> None:
    """Django logs a Host outside ALLOWED_HOSTS as an error with a traceback; scanners send plenty."""
    with start_server(name, env=SERVER_ENV) as running:
        before = quiet_log(running)
        for _ in range(REPEATS):
            answer = exchange(running.port, b"GET /brands HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
            assert b'{"error": "bad request"}' in answer
        assert quiet_log(running)[len(before) :] == ""
