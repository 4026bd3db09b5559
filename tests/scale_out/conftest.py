"""One cluster for the package's cluster tests: three hosts behind nginx (namespace mode when root, as in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from devenv.servers import RunningServer

from .support import COUNTER_ENV, close_open_clients, need_nginx

HOSTS = 3


@pytest.fixture(scope="package")
def cluster(start_server) -> Iterator[RunningServer]:
    need_nginx()
    with start_server("cluster", env=COUNTER_ENV, extra_args=f"--hosts {HOSTS}", ready_timeout=120) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with what the cluster printed last: its counters' warnings say why."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(cluster, RunningServer):
        report.sections.append(("cluster log, last 80 lines", "\n".join(cluster.log().splitlines()[-80:])))
    return report


@pytest.fixture(autouse=True)
async def no_client_left_open() -> AsyncIterator[None]:
    yield
    await close_open_clients()
