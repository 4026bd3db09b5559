"""`manage.py check --deploy` with the production settings the README documents: no issue left unexplained."""

from __future__ import annotations

import secrets
import subprocess
import sys

from .support import PROJECT, deployed_env


def test_check_deploy_is_clean(database_url: str) -> None:
    # The README's key: export SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    env = deployed_env(database_url, secret_key=secrets.token_urlsafe(50))
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
