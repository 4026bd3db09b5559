"""docker-compose.yml runs the documented commands on its own Postgres, replicas behind the cluster's nginx config.

No Docker engine here: checked as data. The nginx config itself is run for real by tests/scale_out.
"""

from __future__ import annotations

import re
import shlex

import yaml

from devenv import servers
from scale_out.nginx import PLACEHOLDER, TEMPLATE, render, site_config

COMPOSE = yaml.safe_load((servers.REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APPS = {name: service for name, service in SERVICES.items() if name not in ("db", "setup", "nginx")}
NGINX = SERVICES["nginx"]
UPSTREAM_SERVER = re.compile(r"server ([\w-]+):(\d+);")
BIND_ARGS = re.compile(r"\s+(--bind 0\.0\.0\.0:\d+|--host 0\.0\.0\.0 --port \d+)$")


def container_port(command: str) -> int:
    return int(re.search(r"(?:0\.0\.0\.0:|--port )(\d+)$", command).group(1))


def test_every_app_runs_a_documented_command() -> None:
    documented = {shlex.join(shlex.split(c.documented)): c for c in servers.COMMANDS.values()}
    for name, service in APPS.items():
        command = BIND_ARGS.sub("", service["command"])
        assert shlex.join(shlex.split(command)) in documented, f"{name}: {command!r} is not a README command"


def behind_nginx() -> dict[str, int]:
    """service -> container port, for every server named in nginx's upstreams."""
    values = " ".join(str(value) for name, value in NGINX["environment"].items() if name.endswith("_SERVERS"))
    return {service: int(port) for service, port in UPSTREAM_SERVER.findall(values)}


def test_apps_listen_inside_and_publish_on_loopback_only() -> None:
    for name, service in APPS.items():
        port = container_port(service["command"])
        if name in behind_nginx():
            assert "ports" not in service, f"{name} has replicas: nginx is their way in"
        else:
            assert service["ports"] == [f"127.0.0.1:{port}:{port}"], name
    assert NGINX["ports"] == [f"127.0.0.1:8012:{NGINX['environment']['PROXY_LISTEN']}"]


def test_nginx_in_compose_uses_the_clusters_template_and_renders_it_the_same() -> None:
    source, target, mode = NGINX["volumes"][0].split(":")
    # The very file scale_out renders for `python -m scale_out` and `python -m scale_out.aiohttp_nginx`.
    assert (servers.REPO_ROOT / source).resolve() == TEMPLATE
    # The nginx image runs envsubst on /etc/nginx/templates/*.template into conf.d/, included in http {}.
    assert target.startswith("/etc/nginx/templates/") and target.endswith(".conf.template") and mode == "ro"
    env = {name: str(value) for name, value in NGINX["environment"].items()}
    envsubst_filter = re.compile(env["NGINX_ENVSUBST_FILTER"])
    placeholders = set(PLACEHOLDER.findall(TEMPLATE.read_text()))
    # envsubst leaves a name it was not given as it is, which nginx would refuse: compose sets every one...
    assert placeholders <= {name for name in env if envsubst_filter.search(name)}
    # ...and only those, so nginx's own $variables pass through untouched.
    nginx_variables = set(re.findall(r"\$([a-z_]+)", TEMPLATE.read_text()))
    assert {"host", "http_upgrade", "connection_upgrade"} <= nginx_variables
    assert not any(envsubst_filter.search(name) for name in nginx_variables | {"HOSTNAME", "PATH", "HOME"})
    # What envsubst writes is what the cluster's own rendering gives for the same servers.
    rendered = render(TEMPLATE.read_text(), {name: env[name] for name in placeholders})
    rest, counter = (UPSTREAM_SERVER.findall(env[name]) for name in ("PROXY_REST_SERVERS", "PROXY_COUNTER_SERVERS"))
    assert rendered == site_config(env["PROXY_LISTEN"], [f"{h}:{p}" for h, p in rest], [f"{h}:{p}" for h, p in counter])


def test_nginx_fronts_two_or_more_healthy_replicas_of_aiohttp_and_of_the_counter() -> None:
    assert set(behind_nginx()) == {"aiohttp", "counter"}
    for name, port in behind_nginx().items():
        assert APPS[name]["deploy"]["replicas"] >= 2, name
        assert container_port(APPS[name]["command"]) == port, name
        assert NGINX["depends_on"][name]["condition"] == "service_healthy", name


def test_every_app_has_a_health_check_on_readyz() -> None:
    for name, service in APPS.items():
        check = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{container_port(service['command'])}/readyz" in check, name


def test_the_image_runs_as_an_unprivileged_user_and_copies_no_local_state() -> None:
    dockerfile = COMPOSE["x-app"]["build"]["dockerfile_inline"]
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert dockerfile.index("USER") > dockerfile.index("pip install")  # installed as root, run as the user
    lines = (servers.REPO_ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".pgdata", "**/__pycache__"} <= ignored


def test_apps_use_the_compose_database_after_setup() -> None:
    for name, service in {**APPS, "setup": SERVICES["setup"]}.items():
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://postgres:password@db:5432/"), name
    for service in APPS.values():
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert SERVICES["setup"]["command"] == "python -m devenv up"
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
