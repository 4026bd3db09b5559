"""Each app package stands alone: it imports no other app, and the tooling imports no app's code.

A reader of one framework's package never has to open another's to follow it, and the benchmark measures
the apps only through their documented commands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top-level import names of each app package (Django's project is two: the project and its app).
APPS: dict[str, set[str]] = {
    "aiohttp_api": {"aiohttp_api"},
    "flask_api": {"flask_api"},
    "asgi_raw": {"asgi_raw"},
    "starlette_app": {"starlette_app"},
    "django_async_views": {"async_views", "async_api", "django_async_views"},
}
APP_NAMES = set().union(*APPS.values())
TOOLING = ["products_db", "devenv", "bench", "scale_out"]


def imported_roots(path: Path) -> set[str]:
    """The first component of every module a file imports (relative imports stay inside the package)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(APPS))
def test_an_app_imports_no_other_app(package: str) -> None:
    others = APP_NAMES - APPS[package]
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in python_files(package)
        for name in imported_roots(path) & (others | {"bench", "scale_out"})
    }
    assert not found, sorted(found)


@pytest.mark.parametrize("package", TOOLING)
def test_tooling_imports_no_app_code(package: str) -> None:
    # It starts the apps by their documented commands (strings), never by importing them.
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in python_files(package)
        for name in imported_roots(path) & APP_NAMES
    }
    assert not found, sorted(found)


def test_the_rule_sees_every_package() -> None:
    assert all(python_files(package) for package in [*APPS, *TOOLING])
