"""The one nginx template: its placeholders, its limits and retry rule, and a rendering that real nginx accepts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from products_db.rules import MAX_BODY_BYTES, PayloadTooLarge
from scale_out.nginx import TEMPLATE, render, site_config, write_config

from .support import need_nginx

TEXT = TEMPLATE.read_text()
PLACEHOLDERS = {"PROXY_LISTEN", "PROXY_REST_SERVERS", "PROXY_COUNTER_SERVERS"}
SIZES = {"k": 1024, "m": 1024 * 1024}


def directive(name: str, text: str = TEXT) -> list[str]:
    """The values of every `name ...;` line, comments left out."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return [m.group(1) for line in lines if (m := re.match(rf"\s*{name}\s+([^;]*);", line))]


def block(opening: str) -> str:
    match = re.search(rf"^{opening} {{\n(.*?)^}}", TEXT, flags=re.M | re.S)
    assert match, opening
    return match.group(1)


def test_placeholders_are_the_three_compose_sets_and_only_where_envsubst_fills_them() -> None:
    assert set(re.findall(r"\$\{(\w+)\}", TEXT)) == PLACEHOLDERS
    # envsubst fills $NAME too, and inside comments: the template has neither.
    assert not re.search(r"\$PROXY_", TEXT)
    assert not [line for line in TEXT.splitlines() if line.lstrip().startswith("#") and "${" in line]


def test_body_limit_and_its_answer_are_the_apps() -> None:
    (size,) = directive("client_max_body_size")
    assert int(size[:-1]) * SIZES[size[-1]] == MAX_BODY_BYTES
    answer = re.search(r"return 413 '(.*)\\n';", TEXT)
    assert answer and json.loads(answer.group(1)) == {"error": PayloadTooLarge().message}


def test_only_requests_that_never_reached_a_server_or_are_idempotent_are_retried() -> None:
    # nginx retries a POST only with "non_idempotent"; without it, a POST that was sent fails visibly.
    assert directive("proxy_next_upstream") == ["error timeout"]
    # Idle connections to the REST servers are reused; WebSockets go to the counter with the fewest.
    assert directive("keepalive", block("upstream rest")) == ["32"]
    assert directive("least_conn", block("upstream counter").replace("least_conn;", "least_conn on;")) == ["on"]
    # WebSocket handshakes pass their hop-by-hop headers on.
    assert "Upgrade $http_upgrade" in directive("proxy_set_header")
    assert "Connection $connection_upgrade" in directive("proxy_set_header")


def test_rendering_refuses_a_missing_value_and_an_empty_upstream() -> None:
    with pytest.raises(ValueError, match="PROXY_COUNTER_SERVERS"):
        render(TEXT, {"PROXY_LISTEN": "80", "PROXY_REST_SERVERS": "server a:1;"})
    with pytest.raises(ValueError, match="at least one server"):
        site_config("127.0.0.1:8080", rest=[])
    rendered = site_config("127.0.0.1:1", rest=["127.0.0.2:80", "127.0.0.3:80"], counter=["127.0.0.4:8000"])
    assert "${" not in rendered
    assert directive("server", rendered) == ["127.0.0.2:80", "127.0.0.3:80", "127.0.0.4:8000"]


def test_real_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    nginx = need_nginx()
    tmp_path.chmod(0o755)
    conf = write_config(tmp_path, "127.0.0.1:1", rest=["127.0.0.2:8080", "127.0.0.3:8080"], counter=["127.0.0.2:8000"])
    result = subprocess.run(
        [nginx, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
