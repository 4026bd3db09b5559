"""`manage.py check --deploy` with the production settings the README documents: no issue left unexplained."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from devenv import servers

PROJECT = servers.REPO_ROOT / "django_async_views"


def test_check_deploy_is_clean(database_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}  # DEBUG off, as deployed
    # The README's key: export SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    env |= {"SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": database_url}
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
    # Each silenced check has its reason beside it in settings.py.
    assert "System check identified no issues (3 silenced)." in output, output
