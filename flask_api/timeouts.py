"""A deadline for the request body in a sync worker: a timer cuts the read side of a socket that stalls."""

from __future__ import annotations

import socket
import threading
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
    meanwhile. A socket timeout would only bound each recv(): a client sending a byte now
    and then could still hold the worker for ever. So a timer, at the deadline, shuts the
    socket for reading: the recv() blocked in this worker returns at once with no data, and
    the next read raises BodyTimeout. The socket stays open for writing: the 408 goes out.
    """

    def __init__(self, stream: IO[bytes], sock: socket.socket | None, seconds: float) -> None:
        self.stream = stream
        self.sock = sock
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()  # the timer and the worker must not both decide
        self.finished = False
        self.timer = threading.Timer(seconds, self.expire)
        self.timer.daemon = True
        self.timer.start()

    def expire(self) -> None:
        with self.lock:
            if self.finished or self.sock is None:
                return
            try:
                self.sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # already closed: the worker is done with it

    def finish(self) -> None:
        with self.lock:
            self.finished = True
        self.timer.cancel()

    def _read(self, method: Callable[..., bytes], size: int | None) -> bytes:
        try:
            data = method() if size is None else method(size)
        except OSError:
            # gunicorn takes the read side shut by expire() for a client that went away.
            if time.monotonic() >= self.deadline:
                raise BodyTimeout(self.seconds) from None
            raise
        if time.monotonic() >= self.deadline:
            raise BodyTimeout(self.seconds)
        if not data or size is None or size < 0:
            self.finish()  # the end of the body: nothing left to wait for
        return data

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
