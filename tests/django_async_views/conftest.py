"""Fixtures of the Django tests: the async views' target server and the documented Django commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devenv import servers

from .support import TEST_ENV, VIEWS_SERVERS
from .target import Target, running_target


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with running_target() as running:
        yield running


@pytest.fixture(scope="module", params=VIEWS_SERVERS)
def views_server(request: pytest.FixtureRequest, start_server) -> Iterator[servers.RunningServer]:
    """Each documented command once per test module: ASGI under uvicorn's worker, WSGI under gunicorn's sync worker."""
    with start_server(request.param, env=TEST_ENV) as server:
        yield server
