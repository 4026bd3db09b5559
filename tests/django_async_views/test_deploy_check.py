"""`manage.py check --deploy` with the production settings the README documents: no issue left unexplained."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from .support import PROJECT, deployed_env


@pytest.mark.parametrize(
    ("settings", "silenced"),
    [
        # Stock Django (the documented commands): CSRF, HSTS and the HTTPS redirect, each left to the proxy.
        ("async_views.settings", 3),
        # The tuned entry point's: W001 and W002 (they look for Django's own middleware class paths) and CSRF's;
        # Django checks HSTS and the HTTPS redirect only when its own SecurityMiddleware path is listed.
        ("async_views.settings_tuned", 3),
    ],
)
def test_check_deploy_is_clean(database_url: str, settings: str, silenced: int) -> None:
    # The README's key: export SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    env = deployed_env(database_url, secret_key=secrets.token_urlsafe(50)) | {"DJANGO_SETTINGS_MODULE": settings}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Each silenced check has its reason beside it in the settings.
    assert f"System check identified no issues ({silenced} silenced)." in output, output
