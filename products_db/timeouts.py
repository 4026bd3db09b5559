"""How long a server waits for a client to send its request body, and the 408 it answers after that.

A client that opens a request and then stalls costs an async server a connection and a
task, and a sync worker (Flask under gunicorn) the whole worker: without a bound it is
held for as long as the client likes. Every app bounds the body read with the same setting
and answers the same JSON 408 when it runs out.
"""

from __future__ import annotations

from .config import positive_setting

DEFAULT_BODY_TIMEOUT = 20.0  # seconds; under gunicorn's 30 s worker timeout, which kills a sync worker


def body_timeout() -> float:
    """BODY_TIMEOUT: seconds from the end of the headers until the whole body must have arrived."""
    return positive_setting("BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT)


class BodyTimeout(Exception):
    """The request body did not arrive in time (HTTP 408).

    Deliberately not a ValueError or OSError: Werkzeug turns those, raised while it reads a
    body, into a 400 "client disconnected", and the client did not disconnect.
    """

    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s")
        self.message = str(self)
