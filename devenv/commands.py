"""Every documented server command: the line as a README shows it, how to move it to another port, what it serves."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerCommand:
    """A command exactly as the README documents it, plus how to move it to another port."""

    name: str
    documented: str  # the line in the README, default port included
    port_args: str  # appended to bind a chosen port: "--port {port}", "--bind 127.0.0.1:{port}"
    demo_port: int
    cwd: str = "."  # relative to the repository root
    ready_path: str = "/brands"
    env: Mapping[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # system tools it runs (installed with the package manager, like wrk)
    # The book's listings (or sections) whose code it serves, as the top README's map numbers them, and the files
    # that hold that code, relative to the repository root: the tests of a command carry its listings
    # (tests/conftest.py), and the demo's front page shows both on the command's card.
    listings: tuple[str, ...] = ()
    source: tuple[str, ...] = ()

    def argv(self, port: int, extra: str = "") -> list[str]:
        return shlex.split(f"{self.documented} {self.port_args.format(port=port)} {extra}")


# Django refuses to start without SECRET_KEY unless DJANGO_DEBUG=1. `make demo` and
# the tests run it with DEBUG off, as deployed, so they pass this key: it is public,
# in this file, and only fit for a server on 127.0.0.1. A real deployment sets its own.
DJANGO_DEMO_ENV = {"SECRET_KEY": "insecure-demo-and-test-only-key-never-deploy-this"}

# The files of the REST API each framework serves, a reader's first stops.
AIOHTTP_SOURCE = ("aiohttp_api/views.py", "aiohttp_api/app.py", "products_db/queries.py", "products_db/rules.py")
STARLETTE_SOURCE = ("starlette_app/rest.py", "starlette_app/app.py")
COUNTER_SOURCE = ("starlette_app/counter.py", "static/counter.html", "static/counter.js")
DJANGO_SOURCE = (
    "django_async_views/async_api/views.py",
    "django_async_views/async_api/requests_batch.py",
    "django_async_views/async_api/templates/async_api/requests.html",
    "django_async_views/async_api/urls.py",
)

# The first word of each command is looked up in the virtualenv that runs us.
COMMANDS: dict[str, ServerCommand] = {
    command.name: command
    for command in [
        ServerCommand(
            "aiohttp",
            "python -m aiohttp_api",
            "--port {port}",
            demo_port=8080,
            listings=("9.1", "9.2", "9.3", "9.4"),
            source=AIOHTTP_SOURCE,
        ),
        ServerCommand(
            "aiohttp-gunicorn",
            "gunicorn -c python:aiohttp_api.gunicorn_conf 'aiohttp_api.app:init_app()'",
            "--bind 127.0.0.1:{port}",
            demo_port=8081,
            listings=("9.1", "9.2", "9.3", "9.4"),
            source=("aiohttp_api/gunicorn_conf.py", *AIOHTTP_SOURCE),
        ),
        ServerCommand(
            "flask",
            "gunicorn -w 8 flask_api.app:app",
            "--bind 127.0.0.1:{port}",
            demo_port=8000,
            listings=("9.5",),
            source=("flask_api/views.py", "flask_api/db.py", "flask_api/app.py"),
        ),
        ServerCommand(
            "starlette",
            "uvicorn --workers 8 --log-level error starlette_app.app:app",
            "--port {port}",
            demo_port=8002,
            listings=("9.8",),
            source=STARLETTE_SOURCE,
        ),
        ServerCommand(
            "starlette-gunicorn",
            "gunicorn starlette_app.app:app --worker-class uvicorn_worker.UvicornWorker --workers 2",
            "--bind 127.0.0.1:{port}",
            demo_port=8003,
            listings=("9.8",),
            source=STARLETTE_SOURCE,
        ),
        ServerCommand(
            "counter",
            "uvicorn --workers 1 --ws-per-message-deflate false starlette_app.app:app",
            "--port {port}",
            demo_port=8004,
            ready_path="/",
            listings=("9.9", "9.10"),
            source=COUNTER_SOURCE,
        ),
        # The counter shared through Postgres, so any number of workers (and hosts) agree.
        # The README documents it with COUNTER_MODE=postgres in front; the variable lives in env because
        # argv() does not run a shell. --reuse-port gives each worker a listening socket of its own, so the
        # kernel spreads the clients evenly over the workers (starlette_app/README.md). CounterWorker is
        # uvicorn's worker with per-message-deflate off, as the one-worker command's flag turns it off.
        ServerCommand(
            "counter-shared",
            "gunicorn starlette_app.app:app --worker-class starlette_app.counter_worker.CounterWorker"
            " --workers 4 --reuse-port",
            "--bind 127.0.0.1:{port}",
            demo_port=8009,
            ready_path="/",
            env={"COUNTER_MODE": "postgres"},
            listings=("9.9", "9.10"),
            source=("starlette_app/counter_shared.py", "starlette_app/counter_worker.py", *COUNTER_SOURCE),
        ),
        ServerCommand(
            "django-asgi",
            "gunicorn async_views.asgi:application -k uvicorn_worker.UvicornWorker",
            "--bind 127.0.0.1:{port}",
            demo_port=8005,
            cwd="django_async_views",
            ready_path="/",
            env=DJANGO_DEMO_ENV,
            listings=("9.11", "9.12", "9.13", "9.14"),
            source=DJANGO_SOURCE,
        ),
        # Stock Django's ASGI application with three tweaks that spend less CPU per request
        # (django_async_views/README.md#the-tuned-entry-point): the benchmark's "django tuned" row.
        ServerCommand(
            "django-asgi-tuned",
            "gunicorn async_views.asgi_tuned:application -k uvicorn_worker.UvicornWorker",
            "--bind 127.0.0.1:{port}",
            demo_port=8013,
            cwd="django_async_views",
            ready_path="/",
            env=DJANGO_DEMO_ENV,
            source=(
                "django_async_views/async_views/asgi_tuned.py",
                "django_async_views/async_views/settings_tuned.py",
                "django_async_views/async_views/middleware.py",
            ),
        ),
        ServerCommand(
            "django-wsgi",
            "gunicorn async_views.wsgi:application",
            "--bind 127.0.0.1:{port}",
            demo_port=8006,
            cwd="django_async_views",
            ready_path="/",
            env=DJANGO_DEMO_ENV,
            listings=("9.15",),
            source=DJANGO_SOURCE,
        ),
        ServerCommand(
            "raw-wsgi",
            "gunicorn asgi_raw.wsgi_app:application",
            "--bind 127.0.0.1:{port}",
            demo_port=8007,
            ready_path="/",
            listings=("9.6",),
            source=("asgi_raw/wsgi_app.py",),
        ),
        ServerCommand(
            "raw-asgi",
            "uvicorn asgi_raw.asgi_app:application",
            "--port {port}",
            demo_port=8008,
            ready_path="/",
            listings=("9.7",),
            source=("asgi_raw/asgi_app.py",),
        ),
        # Past one process and one host (scale_out/): N aiohttp processes behind nginx, as the book
        # suggests, and a cluster of N hosts on this machine, each with the REST API and the shared
        # counter, behind nginx. extra_args "--processes N" or "--hosts N" pick N.
        ServerCommand(
            "aiohttp-nginx",
            "python -m scale_out.aiohttp_nginx",
            "--port {port}",
            demo_port=8011,
            requires=("nginx",),
            listings=("9.1.4", "9.3.1"),
            source=("scale_out/aiohttp_nginx.py", "scale_out/nginx.conf.template"),
        ),
        ServerCommand(
            "cluster",
            "python -m scale_out --hosts 3",
            "--port {port}",
            demo_port=8012,
            requires=("nginx",),
            source=("scale_out/cluster.py", "scale_out/nginx.conf.template"),
        ),
        # The same bare ASGI app, with gunicorn managing uvicorn workers.
        ServerCommand(
            "raw-asgi-gunicorn",
            "gunicorn asgi_raw.asgi_app:application -k uvicorn_worker.UvicornWorker",
            "--bind 127.0.0.1:{port}",
            demo_port=8010,
            ready_path="/",
            listings=("9.7",),
            source=("asgi_raw/asgi_app.py",),
        ),
    ]
}
