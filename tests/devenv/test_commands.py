"""The registry's listings and source files agree with the top README's listing map, which a reader follows."""

from __future__ import annotations

import re
import shlex

from devenv.commands import COMMANDS
from devenv.servers import REPO_ROOT


def listing_map() -> list[tuple[tuple[str, ...], set[str], str]]:
    """(listings, files linked, command) for each row of the map whose "run it" names a registry command.

    A row whose command is "the same" runs the command of the row above it.
    """
    text = (REPO_ROOT / "README.md").read_text()
    table = text[text.index("## The listings") :].split("\n## ", 1)[0]
    rows, command = [], ""
    for line in table.splitlines():
        if not re.match(r"\| 9\.", line):
            continue
        listing, _, files, run_it = (cell.strip() for cell in line.strip(" |").split(" | "))
        named = [c for c in re.findall(r"`([^`]+)`", run_it) if c.startswith(("python -m ", "gunicorn ", "uvicorn "))]
        if named:
            command = shlex.join(shlex.split(named[-1]))
        elif not run_it.startswith("the same"):
            continue  # `make bench`: not a server
        linked = {target.split("#")[0] for target in re.findall(r"\]\(([^)]+)\)", files)}
        rows.append((tuple(listing.split(", ")), linked, command))
    return rows


def test_every_row_of_the_listing_map_is_in_the_registry() -> None:
    registry = {shlex.join(shlex.split(c.documented)): c for c in COMMANDS.values()}
    rows = listing_map()
    assert len(rows) >= 15
    for listings, files, documented in rows:
        command = registry[documented]
        assert set(listings) <= set(command.listings), f"{command.name} lacks listings {listings}"
        assert files <= set(command.source), f"{command.name} lacks files {files - set(command.source)}"


def test_every_source_file_exists() -> None:
    missing = [f"{c.name}: {path}" for c in COMMANDS.values() for path in c.source if not (REPO_ROOT / path).is_file()]
    assert not missing
    assert all(c.source for c in COMMANDS.values())
