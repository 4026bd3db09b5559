"""A start-up failure as one log line instead of a traceback per worker."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from products_db.config import DatabaseUnavailable

log = logging.getLogger(__name__)


class OneLineStartupError:
    """Turn a DatabaseUnavailable raised in the lifespan into one readable log line.

    Starlette reports a failing lifespan to the server as a `lifespan.startup.failed`
    message whose text is the whole traceback, and uvicorn logs it in every worker.
    A database that is down is not a bug: its one-line explanation is all a person needs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: Message | None = None

        async def hold_failure(message: Message) -> None:
            nonlocal held
            if message["type"] == "lifespan.startup.failed":
                held = message  # sent below, once we know which exception it was
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except DatabaseUnavailable as error:
            # Logged here in the shared format; the message to the server stays
            # empty, or uvicorn would log the line a second time in its own.
            log.error("%s", error)
            await send({"type": "lifespan.startup.failed", "message": ""})
            # The server exits with code 3 (uvicorn's and gunicorn's "worker failed
            # to boot"), so its supervisor stops instead of respawning workers.
            raise
        except BaseException:
            if held is not None:
                await send(held)
            raise
