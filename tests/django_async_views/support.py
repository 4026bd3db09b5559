"""Shared by the async views tests: the servers' environment and reading the pages."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import pytest

from devenv import servers

# DEBUG stays off, as deployed, so Django needs a key: this one is only for tests.
SERVER_ENV = {"SECRET_KEY": "test-only-secret-key-for-the-async-views-tests-0123456789"}
# Each outgoing request may take 3 s (the default is 10), so the timeout test is quick: not 1 s, which a
# batch of 20 requests of 0.3 s could exceed on a machine busy with the rest of the suite.
REQUEST_TIMEOUT = 3
DEFAULT_TARGETS_ENV = {**SERVER_ENV, "ASYNC_API_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
# By default the requests views call public addresses only; the tests' targets listen on 127.0.0.1.
TEST_ENV = {**DEFAULT_TARGETS_ENV, "ASYNC_API_ALLOWED_TARGET_HOSTS": "127.0.0.1"}
# What every failure before an HTTP answer reads (async_api/outbound.py), and a refusal by the address policy.
NO_ANSWER = "ConnectionError: no HTTP answer (could not connect, or the answer was not HTTP)"
REFUSED = "RefusedByPolicy: not a public address (ASYNC_API_ALLOWED_TARGET_HOSTS opens a host)"
VIEWS_SERVERS = ["django-asgi", "django-wsgi"]
# The listings each path of the async_api app shows (its urls.py is listing 9.13): the async view and its
# template, async_to_sync, sync_to_async; the loop page shows which event loop an async view runs on.
PATH_LISTINGS = {
    "/": ("9.13",),
    "/requests/": ("9.11", "9.12"),
    "/requests/async_to_sync": ("9.15", "9.12"),
    "/requests/sync_to_async": ("9.14",),
    "/requests/loop": ("9.11",),
}


def paths(*names: str) -> list:
    """Paths of the views as test parameters, each marked with its listings: `--listing` finds them."""
    return [pytest.param(path, marks=pytest.mark.listing(*PATH_LISTINGS[path])) for path in names]


PROJECT = servers.REPO_ROOT / "django_async_views"


def deployed_env(database_url: str, secret_key: str = SERVER_ENV["SECRET_KEY"]) -> dict[str, str]:
    """The environment for a command run in the Django project as deployed: DEBUG off, a key, the test database."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}
    return env | {"SECRET_KEY": secret_key, "DATABASE_URL": database_url}


class Tables(HTMLParser):
    """The rows (lists of cell texts) of every <table id=...> in a page, and the text of elements with an id."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.by_id: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._id_stack: list[str | None] = []
        self._texts: dict[str, list[str]] = {}
        self.feed(page)
        self.close()
        self.by_id = {key: "".join(parts).strip() for key, parts in self._texts.items()}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element_id = dict(attrs).get("id")
        if tag == "table" and element_id:
            self._table = element_id
            self.tables[element_id] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        if tag in ("td", "th", "p", "span", "table"):
            self._id_stack.append(element_id)
            if element_id:
                self._texts.setdefault(element_id, [])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "table":
            self._table = None
        if tag in ("td", "th", "p", "span", "table") and self._id_stack:
            self._id_stack.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for element_id in self._id_stack:
            if element_id and element_id != self._table:
                self._texts[element_id].append(data)


def number(text: str) -> float:
    """A number as Django's floatformat prints it (no thousands separator without USE_THOUSAND_SEPARATOR)."""
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text), text
    return float(text)
