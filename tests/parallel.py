"""How the suite runs on several workers (`make test` runs `pytest -n 6`): groups, order, and what each worker started.

A plugin of the suite (tests/conftest.py). pytest-xdist runs tests in worker processes, each with its own
throwaway Postgres; `--dist loadgroup` (pyproject.toml) sends every test of one group to one worker:
- tests that share a fixture wider than one test (a server started once per module) form one group, so the
  server starts once, not once on each worker; so do tests marked `serial` with the same name, which must not
  run at the same time; tests that share nothing are spread one by one;
- the groups holding a test marked `slow` are sent first, so that no long test starts last while the
  other workers stand idle;
- each worker reports the documented commands it started, for the check of tests/conftest.py that every
  command was started by some test.
"""

from __future__ import annotations

import pytest

from devenv import servers

SHARED_SCOPES = ("class", "module", "package")


def shared_fixtures(item: pytest.Item) -> list[str]:
    """What `item` shares with other tests: the fixture instances wider than one test it uses (by owner, name
    and parameter), and the names of its `serial` marks."""
    shared = [f"serial:{name}" for mark in item.iter_markers("serial") for name in mark.args]
    callspec = getattr(item, "callspec", None)
    for name, definitions in item._fixtureinfo.name2fixturedefs.items():  # type: ignore[attr-defined]
        definition = definitions[-1]
        if definition.scope not in SHARED_SCOPES:
            continue
        owner = definition.baseid if definition.scope == "package" else item.nodeid.split("::")[0]
        index = callspec.indices.get(name) if callspec else None
        # No "]" or "@" in a group's name: pytest-xdist takes a test's group from after the last "@" of its id.
        shared.append(f"{owner.removeprefix('tests/')}:{name}" + ("" if index is None else f"#{index}"))
    return shared


def groups(items: list[pytest.Item]) -> dict[pytest.Item, str]:
    """Each test that shares a fixture instance with others, and its group: all tests joined by shared instances."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    used = {item: keys for item in items if (keys := shared_fixtures(item))}
    for keys in used.values():
        for key in keys:
            parent[root(key)] = root(keys[0])
    # A group is named after the first of its fixture instances, so the name does not depend on the order of tests.
    name: dict[str, str] = {}
    for key in parent:
        name[root(key)] = min(name.get(root(key), key), key)
    return {item: name[root(keys[0])] for item, keys in used.items()}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not a pytest-xdist worker: the tests run in the order pytest gives them
    grouped = groups(items)
    for item, group in grouped.items():
        item.add_marker(pytest.mark.xdist_group(group))
    slow_groups = {grouped.get(item, item.nodeid) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: grouped.get(item, item.nodeid) not in slow_groups)  # stable: slow groups first


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["started"] = sorted(servers.STARTED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the controller: a worker is done, and the commands it started count for the whole run."""
    servers.STARTED.update(node.workeroutput.get("started", ()))
