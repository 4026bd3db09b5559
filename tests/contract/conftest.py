"""The servers the REST contract runs against: one documented command each, started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import commands

# Every framework that serves the REST API. Each name is a documented command
# in devenv/commands.py; the same requests must get the same answers.
CONTRACT_SERVERS = [
    "aiohttp",
    "aiohttp-gunicorn",
    "flask",
    "starlette",
    "starlette-gunicorn",
    "django-asgi",
]

# Commands that need settings of their own to start (on top of DATABASE_URL).
SERVER_ENV: dict[str, dict[str, str]] = {
    "django-asgi": {"SECRET_KEY": "test-only-not-secret"},
}


@pytest.fixture(scope="module", params=commands(*CONTRACT_SERVERS))
def api(request: pytest.FixtureRequest, start_server) -> Iterator[httpx.Client]:
    name = request.param
    with start_server(name, env=SERVER_ENV.get(name, {})) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
