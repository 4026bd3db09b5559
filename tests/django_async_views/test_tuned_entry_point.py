"""The tuned entry point (async_views/asgi_tuned.py): each of its tweaks is there, and stock Django (asgi.py) has none.

What the tweaks gain is measured by the benchmark (its "django tuned" row), not here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from devenv import servers

from .support import PROJECT, SERVER_ENV, deployed_env

SHOW_RECEIVERS = "import {module}; from django.core.signals import request_started as s; print(s.has_listeners())"


@pytest.fixture(scope="module")
def tuned(start_server) -> Iterator[servers.RunningServer]:
    # Two request threads (as many as pooled connections), so a third request shows one reused.
    with start_server("django-asgi-tuned", env={**SERVER_ENV, "DB_POOL_SIZE": "2"}) as running:
        yield running


def request_started_has_listeners(database_url: str, module: str, **env: str) -> str:
    # Each entry point picks its own settings module (as manage.py does, unless the environment names one).
    env = {k: v for k, v in deployed_env(database_url).items() if k != "DJANGO_SETTINGS_MODULE"} | env
    result = subprocess.run(
        [sys.executable, "-c", SHOW_RECEIVERS.format(module=module)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("module", "env", "expected"),
    [
        ("async_views.asgi", {}, "True"),  # stock Django keeps its receivers
        ("async_views.asgi_tuned", {}, "False"),
        ("async_views.asgi_tuned", {"DJANGO_DEBUG": "1"}, "True"),  # DEBUG fills the query log: reset_queries stays
    ],
)
def test_request_started_receivers_are_skipped_by_the_tuned_entry_point_with_debug_off(
    database_url: str, module: str, env: dict[str, str], expected: str
) -> None:
    assert request_started_has_listeners(database_url, module, **env) == expected


@pytest.mark.listing("9.14")
def test_each_request_takes_one_of_pool_size_long_lived_threads(tuned: servers.RunningServer) -> None:
    params = {"sleep_time": 0.01, "num_calls": 2, "thread_sensitive": "True"}
    threads = []
    for _ in range(3):
        calls = httpx.get(f"{tuned.url}/requests/sync_to_async", params=params, timeout=60).json()["calls"]
        assert len({(call["thread"], call["thread_id"]) for call in calls}) == 1
        threads.append((calls[0]["thread"], calls[0]["thread_id"]))
    # Handed out in turn: the third request reuses the first one's thread, which kept running.
    assert {name for name, _ in threads} == {"request-0_0", "request-1_0"}
    assert threads[0] != threads[1]
    assert threads[2] == threads[0]


@pytest.mark.parametrize("path", ["/brands", "/products/abc"])
def test_the_middleware_on_the_loop_sets_djangos_security_headers(tuned: servers.RunningServer, path: str) -> None:
    headers = httpx.get(f"{tuned.url}{path}", timeout=30).headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"


def test_the_tuned_entry_point_keeps_the_guards(tuned: servers.RunningServer) -> None:
    headers = {f"x-h{i}": "v" for i in range(150)}
    response = httpx.get(f"{tuned.url}/brands", headers=headers, timeout=30)
    assert response.status_code == 431
    assert response.json() == {"error": "request has more than 100 header fields"}
