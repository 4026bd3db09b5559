"""Under ASGI, request_started has no receivers to send to a thread with DEBUG off; with DEBUG on, Django's stay."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .support import PROJECT, deployed_env

SHOW = "import async_views.asgi; from django.core.signals import request_started as s; print(s.has_listeners())"


def asgi_request_started_has_listeners(database_url: str, **env: str) -> str:
    env = deployed_env(database_url) | {"DJANGO_SETTINGS_MODULE": "async_views.settings"} | env
    result = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(("env", "expected"), [({}, "False"), ({"DJANGO_DEBUG": "1"}, "True")])
def test_request_started_receivers_run_only_with_debug(database_url: str, env: dict[str, str], expected: str) -> None:
    assert asgi_request_started_has_listeners(database_url, **env) == expected
