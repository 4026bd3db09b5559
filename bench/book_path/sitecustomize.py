"""On the PYTHONPATH of the book's listings only (bench.book puts it there): what their code assumes, provided.

The book's listings hard-code their database (127.0.0.1:5432, user postgres, password 'password', database
products), and listing 9.2 serves on port 8080 of every interface. Python imports this module at start-up, before
the listing; it wraps the drivers' connect calls so that whatever settings they are given, they reach
BOOK_DATABASE_URL, and has aiohttp's run_app serve on 127.0.0.1:BOOK_PORT. The listings stay as they are on disk.
BOOK_PATCH names the modules to wrap (asyncpg, psycopg2, aiohttp), so a process imports only what its listing uses.
"""

import functools
import os
from collections.abc import Callable
from typing import Any

URL = os.environ.get("BOOK_DATABASE_URL", "")
CONNECTION_SETTINGS = ("dsn", "host", "port", "user", "password", "database", "dbname")


def _to_url(connect: Callable[..., Any]) -> Callable[..., Any]:
    """connect(*settings, **settings) becomes connect(URL, **the other keyword arguments): pool sizes stay."""

    @functools.wraps(connect)
    def redirected(*_settings: Any, **kwargs: Any) -> Any:
        return connect(URL, **{key: value for key, value in kwargs.items() if key not in CONNECTION_SETTINGS})

    return redirected


def _patch(module: str) -> None:
    if module == "asyncpg":
        import asyncpg

        setattr(asyncpg, "connect", _to_url(asyncpg.connect))  # noqa: B010 (mypy: assigning to a function)
        setattr(asyncpg, "create_pool", _to_url(asyncpg.create_pool))  # noqa: B010
    elif module == "psycopg2":
        import psycopg2

        setattr(psycopg2, "connect", _to_url(psycopg2.connect))  # noqa: B010
    elif module == "aiohttp":
        from aiohttp import web

        run_app = web.run_app

        @functools.wraps(run_app)
        def on_our_port(app: web.Application, **kwargs: Any) -> None:
            return run_app(app, **{**kwargs, "host": "127.0.0.1", "port": int(os.environ["BOOK_PORT"])})

        setattr(web, "run_app", on_our_port)  # noqa: B010


for _module in filter(None, os.environ.get("BOOK_PATCH", "").split(",")):
    _patch(_module)
