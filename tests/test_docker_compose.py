"""docker-compose.yml runs the documented commands on its own Postgres (no Docker engine here: checked as data)."""

from __future__ import annotations

import re
import shlex

import yaml

from products_db import servers

COMPOSE = yaml.safe_load((servers.REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APPS = {name: service for name, service in SERVICES.items() if name not in ("db", "setup")}
BIND_ARGS = re.compile(r"\s+(--bind 0\.0\.0\.0:\d+|--host 0\.0\.0\.0 --port \d+)$")


def container_port(command: str) -> int:
    return int(re.search(r"(?:0\.0\.0\.0:|--port )(\d+)$", command).group(1))


def test_every_app_runs_a_documented_command() -> None:
    documented = {shlex.join(shlex.split(c.documented)): c for c in servers.COMMANDS.values()}
    for name, service in APPS.items():
        command = BIND_ARGS.sub("", service["command"])
        assert shlex.join(shlex.split(command)) in documented, f"{name}: {command!r} is not a README command"


def test_apps_listen_inside_and_publish_on_loopback_only() -> None:
    for name, service in APPS.items():
        port = container_port(service["command"])
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"], name


def test_apps_use_the_compose_database_after_setup() -> None:
    for name, service in {**APPS, "setup": SERVICES["setup"]}.items():
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://postgres:password@db:5432/"), name
    for service in APPS.values():
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert SERVICES["setup"]["command"] == "python -m products_db up"
    assert SERVICES["setup"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_counter_runs_in_shared_mode_with_several_workers() -> None:
    counter = APPS["counter"]
    assert counter["environment"]["COUNTER_MODE"] == "postgres"
    shared = servers.COMMANDS["counter-shared"]
    assert BIND_ARGS.sub("", counter["command"]) == shared.documented
    assert dict(shared.env)["COUNTER_MODE"] == "postgres"


def test_django_has_a_secret_and_its_folder() -> None:
    django = APPS["django"]
    assert django["working_dir"] == "/app/django_async_views"
    assert django["environment"]["SECRET_KEY"]
