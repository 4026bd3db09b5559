"""One cluster for the package's cluster tests: three hosts behind nginx (namespace mode when root, as in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from devenv.servers import RunningServer

from .support import COUNTER_ENV, close_open_clients, need_nginx

HOSTS = 3


@pytest.fixture(scope="package")
def cluster(start_server) -> Iterator[RunningServer]:
    need_nginx()
    with start_server("cluster", env=COUNTER_ENV, extra_args=f"--hosts {HOSTS}", ready_timeout=120) as server:
        yield server


@pytest.fixture(autouse=True)
async def no_client_left_open() -> AsyncIterator[None]:
    yield
    await close_open_clients()
