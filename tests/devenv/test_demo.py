"""`make demo`: every documented server at once on distinct ports, a table of URLs, all stopped on SIGTERM."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import httpx
import pytest

from devenv import servers
from devenv.demo import missing_tools
from devenv.embedded import port_in_use
from tests.conftest import IN_CI


def free_offset() -> int:
    """An offset that moves every demo port onto a free one (a developer's own demo may be running)."""
    ports = [command.demo_port for command in servers.COMMANDS.values()]
    for _ in range(100):
        # Below 32768, where Linux starts handing out ephemeral ports for outgoing connections.
        offset = random.randrange(10_000, 24_000, 100)
        if not any(port_in_use(port + offset) for port in ports):
            return offset
    raise RuntimeError("no free range of demo ports")


def missing_tools_of(names: set[str]) -> str:
    return ", ".join(sorted({tool for name in names for tool in missing_tools(servers.COMMANDS[name])}))


@pytest.mark.slow
@pytest.mark.serial("cluster")  # the demo starts a cluster too (tests/scale_out/test_cluster_lifecycle.py)
def test_demo_runs_every_documented_server(database_url: str) -> None:
    # A command whose system tool (nginx) is missing is skipped, and says so; in CI every tool is there.
    skipped = {name for name, command in servers.COMMANDS.items() if missing_tools(command)}
    if skipped and IN_CI:
        pytest.fail(f"the demo would skip {', '.join(sorted(skipped))}: install {missing_tools_of(skipped)}")
    offset = free_offset()
    env = {**servers.environment(database_url, {}), "DEMO_PORT_OFFSET": str(offset)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "devenv.demo"],
        cwd=servers.REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, "the demo exited early:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("Ctrl-C stops every server"):
                break
        table = {
            words[0]: words[1]
            for words in (line.split() for line in lines)
            if len(words) > 2 and words[0] in servers.COMMANDS and words[1].startswith("http://127.0.0.1:")
        }
        assert set(table) == set(servers.COMMANDS) - skipped, "".join(lines)
        assert all(any(line.startswith(f"skipping {name}: it needs") for line in lines) for name in skipped)
        ports = set()
        for name, url in table.items():
            command = servers.COMMANDS[name]
            port = int(url.split(":")[2].split("/")[0])
            assert port == command.demo_port + offset
            ports.add(port)
            assert httpx.get(url, timeout=30).status_code == 200, name
        assert len(ports) == len(table)  # distinct ports
        # The Django index's examples call the demo's aiohttp API on 127.0.0.1, which the demo allows.
        batch = httpx.get(
            f"{table['django-asgi']}requests/", params={"url": table["aiohttp"], "request_num": 2}, timeout=60
        )
        assert batch.status_code == 200 and 'id="no-failures"' in batch.text, batch.text
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=120)
    assert code == 128 + signal.SIGTERM
    assert not [port for port in ports if port_in_use(port)], "a server outlived the demo"
