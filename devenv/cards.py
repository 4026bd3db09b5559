"""What the demo's front page shows of each running server: its listings, command, links, health checks."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from .commands import DJANGO_DEMO_ENV
from .servers import RunningServer

# What a reader gets from each server, in a line.
WHAT = {
    "aiohttp": "The REST API on aiohttp and asyncpg: one process, one event loop.",
    "aiohttp-gunicorn": "The same aiohttp app, one process per core under gunicorn.",
    "flask": "The REST API on Flask and psycopg2: 8 sync workers, one request each.",
    "starlette": "The REST API on Starlette: 8 uvicorn workers, a pool each.",
    "starlette-gunicorn": "The same Starlette app: 2 uvicorn workers under gunicorn.",
    "counter": "The WebSocket user counter in memory: one worker counts its own tabs.",
    "counter-shared": "The counter shared through Postgres: 4 workers agree on one count.",
    "django-asgi": "Django's async views under ASGI, making requests concurrently; the API on its async ORM.",
    "django-wsgi": "The same Django views under WSGI: async_to_sync runs a loop per call.",
    "raw-wsgi": "A WSGI application, no framework: the HTTP ceiling of sync servers.",
    "raw-asgi": "An ASGI application, no framework: the HTTP ceiling of async servers.",
    "raw-asgi-gunicorn": "The same bare ASGI app under gunicorn's uvicorn workers.",
    "aiohttp-nginx": "The book's advice: one aiohttp process per core behind nginx.",
    "cluster": "Three hosts on this machine behind nginx, each with the API and the shared counter.",
}
# The bare apps answer one fixed page and have no health endpoints: their card polls that page.
BARE = {"raw-wsgi", "raw-asgi", "raw-asgi-gunicorn"}
COUNTERS = {"counter": "the counter, in memory", "counter-shared": "the counter, shared", "cluster": "the counter"}
HEALTH = ("/healthz", "/readyz")  # alive without the database, then ready through it (products_db/health.py)
OPENAPI = "products_db/openapi.yaml"  # the API's contract, served by the front page (no app serves it)


@dataclass(frozen=True)
class Card:
    name: str
    url: str
    what: str
    command: str  # as the README documents it, with the environment it sets
    listings: tuple[str, ...]
    source: tuple[str, ...]  # files of the repository, relative to its root
    links: tuple[tuple[str, str], ...]  # (label, address): the server's pages, or files the front page serves
    health: tuple[str, ...]  # the paths polled, in order: each only once the one before answered 200
    load_path: str  # what wrk asks for


def django_links(url: str, api: str | None) -> list[tuple[str, str]]:
    """The Django pages; the request batches call the demo's aiohttp API, which the demo lets them reach."""
    links = [("index", "/")]
    if api:
        batch = urlencode({"url": f"{api}/brands", "request_num": 10})
        links += [("async view, 10 requests", f"/requests/?{batch}")]
        links += [("async_to_sync", f"/requests/async_to_sync?{batch}")]
    links += [("sync_to_async", "/requests/sync_to_async"), ("which loop", "/requests/loop"), ("/brands", "/brands")]
    return [(label, url + path) for label, path in links]


def links(server: RunningServer, api: str | None) -> list[tuple[str, str]]:
    name, url = server.command.name, server.url
    if name in BARE:
        return [("/", url + "/")]
    if name.startswith("django"):
        return django_links(url, api)
    rest = [("/brands", url + "/brands"), ("/products/1", url + "/products/1"), ("OpenAPI", f"repo/{OPENAPI}")]
    if name in ("aiohttp", "aiohttp-gunicorn"):
        rest.insert(0, ("/time", url + "/time"))
    if name in COUNTERS:
        rest.insert(0, (COUNTERS[name], url + "/"))
    return rest


def shown_command(server: RunningServer) -> str:
    """The command as the README shows it: its own environment first, not the demo's Django key."""
    env = [f"{key}={value}" for key, value in server.command.env.items() if key not in DJANGO_DEMO_ENV]
    return " ".join([*env, server.command.documented])


def card(server: RunningServer, api: str | None) -> Card:
    command = server.command
    bare = command.name in BARE
    return Card(
        name=command.name,
        url=server.url,
        what=WHAT.get(command.name, ""),
        command=shown_command(server),
        listings=command.listings,
        source=command.source,
        links=tuple(links(server, api)),
        health=(command.ready_path,) if bare else HEALTH,
        load_path=command.ready_path if bare else "/brands",
    )


def cards(running: list[RunningServer]) -> list[Card]:
    api = next((server.url for server in running if server.command.name == "aiohttp"), None)
    return [card(server, api) for server in running]
