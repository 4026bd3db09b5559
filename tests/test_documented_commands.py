"""Every server command the READMEs document is a registry command that the tests start, and the other way round."""

from __future__ import annotations

import re
import shlex

from devenv import servers

ROOT = servers.REPO_ROOT
# The top-level README and each package's own (not the one .pytest_cache writes: pathlib's "*" matches hidden folders).
PACKAGE_READMES = sorted(path for path in ROOT.glob("*/README.md") if not path.parent.name.startswith("."))
READMES = [ROOT / "README.md", *PACKAGE_READMES]
SERVER_PROGRAMS = ("python -m ", "gunicorn ", "uvicorn ")
NOT_SERVERS = ("python -m devenv", "python -m bench", "python -m pytest")


def readme_commands() -> list[tuple[dict[str, str], str]]:
    """(environment assignments, command) for each server command in the READMEs' shell blocks."""
    commands = []
    blocks = [block for readme in READMES for block in re.findall(r"```sh\n(.*?)```", readme.read_text(), flags=re.S)]
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            words = shlex.split(line) if line else []
            env = {}
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                key, value = words.pop(0).split("=", 1)
                env[key] = value
            command = shlex.join(words)
            if command.startswith(SERVER_PROGRAMS) and not command.startswith(NOT_SERVERS):
                commands.append((env, command))
    return commands


def normalised(command: str) -> str:
    return shlex.join(shlex.split(command))


def test_readme_documents_server_commands() -> None:
    assert len(readme_commands()) >= 2


def test_every_readme_command_is_a_registry_command() -> None:
    registry = {normalised(c.documented): c for c in servers.COMMANDS.values()}
    for env, command in readme_commands():
        matches = [c for c in servers.COMMANDS.values() if normalised(c.documented) == command]
        assert matches, f"README command not in devenv/commands.py (so no test starts it): {command}"
        assert any(env.items() <= dict(c.env).items() for c in matches), (
            f"README sets {env} for {command!r}, the registry does not"
        )
    assert registry


def test_every_registry_command_is_in_the_readme() -> None:
    documented = {command for _, command in readme_commands()}
    for command in servers.COMMANDS.values():
        assert normalised(command.documented) in documented, f"{command.name} is not in the README"


def test_the_listing_map_names_registry_commands() -> None:
    """The top-level README's listing map: each "run it" command is one the tests start."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## The listings") :].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"\| 9\.", line)]
    assert len(rows) >= 15
    registry = {normalised(c.documented) for c in servers.COMMANDS.values()}
    for row in rows:
        run_it = row.rstrip(" |").rsplit("|", 1)[1]
        for command in re.findall(r"`([^`]+)`", run_it):
            if command.startswith(SERVER_PROGRAMS) and not command.startswith(NOT_SERVERS):
                assert normalised(command) in registry, f"listing map command not in the registry: {command}"


def test_the_listing_map_is_on_the_first_screen() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200
    assert lines.index("## The listings") < 40


def test_relative_links_in_the_documentation_resolve() -> None:
    """Every relative link and image of every README (and RELIABILITY.md) points at a file or folder that exists."""
    broken = []
    for page in [*READMES, ROOT / "RELIABILITY.md"]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
        for target in targets:
            path = target.split("#", 1)[0]
            if not path or re.match(r"^[a-z]+:", target):
                continue
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
