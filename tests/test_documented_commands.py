"""Every server command in the README is a registry command that the tests start, and the other way round."""

from __future__ import annotations

import re
import shlex

from devenv import servers

README = servers.REPO_ROOT / "README.md"
SERVER_PROGRAMS = ("python -m ", "gunicorn ", "uvicorn ")
NOT_SERVERS = ("python -m devenv", "python -m bench", "python -m pytest")


def readme_commands() -> list[tuple[dict[str, str], str]]:
    """(environment assignments, command) for each server command in the README's shell blocks."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
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
        assert matches, f"README command not in devenv/servers.py (so no test starts it): {command}"
        assert any(env.items() <= dict(c.env).items() for c in matches), (
            f"README sets {env} for {command!r}, the registry does not"
        )
    assert registry


def test_every_registry_command_is_in_the_readme() -> None:
    documented = {command for _, command in readme_commands()}
    for command in servers.COMMANDS.values():
        assert normalised(command.documented) in documented, f"{command.name} is not in the README"
