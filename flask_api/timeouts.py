"""A deadline for the request body in a sync worker: each read may take only the time left until it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING

from flask import Flask, Response

from products_db.timeouts import BodyTimeout

from .views import json_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class DeadlineInput:
    """wsgi.input that must be read to the end by `deadline`, else BodyTimeout.

    A sync worker reads the body with blocking recv() calls and serves nobody else
    meanwhile. A fixed socket timeout would only bound each recv(): a client sending a
    byte now and then could still hold the worker for ever. So before each read the
    socket's timeout is set to the time left until the deadline: the read that would
    cross it fails there, and the socket is made blocking again for the 408 to go out.
    """

    def __init__(self, stream: IO[bytes], sock: socket.socket | None, seconds: float) -> None:
        self.stream = stream
        self.sock = sock
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.blocking = sock.gettimeout() if sock is not None else None  # what the server set: restored by finish()

    def finish(self) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.blocking)

    def _read(self, method: Callable[..., bytes], size: int | None) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BodyTimeout(self.seconds)
        if self.sock is not None:
            self.sock.settimeout(left)
        try:
            return method() if size is None else method(size)
        except TimeoutError:  # socket.timeout: the deadline passed during this read
            raise BodyTimeout(self.seconds) from None

    def read(self, size: int | None = None) -> bytes:
        return self._read(self.stream.read, size)

    def readline(self, size: int | None = None) -> bytes:
        return self._read(self.stream.readline, size)

    def __iter__(self) -> DeadlineInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class BodyDeadline:
    """WSGI middleware: every request that has a body must deliver it within `seconds`."""

    def __init__(self, app: WSGIApplication, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        has_body = environ.get("CONTENT_LENGTH", "") not in ("", "0") or "chunked" in environ.get(
            "HTTP_TRANSFER_ENCODING", ""
        )
        if not has_body:
            return self.app(environ, start_response)
        # gunicorn hands the application its client socket; other servers may not.
        body = DeadlineInput(environ["wsgi.input"], environ.get("gunicorn.socket"), self.seconds)
        environ["wsgi.input"] = body
        try:
            return self.app(environ, start_response)
        finally:
            body.finish()


def request_timeout(error: BodyTimeout) -> Response:
    # The rest of the body may still be on its way: close the connection after this answer.
    return json_response({"error": error.message}, status=error.status, headers={"Connection": "close"})


def setup_body_deadline(app: Flask, seconds: float) -> None:
    app.wsgi_app = BodyDeadline(app.wsgi_app, seconds)  # type: ignore[method-assign]
    app.register_error_handler(BodyTimeout, request_timeout)
