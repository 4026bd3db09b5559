"""The front page's load panel: a short wrk run against one or two servers, and each one's row of the last full run."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.wrk import WrkMissing, parse, wrk_argv, wrk_path

from .cards import Card
from .commands import COMMANDS

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class LoadSettings:
    seconds: int = 5  # DEMO_LOAD_SECONDS: per server (the tests run 1 s)
    connections: int = 200  # the book's wrk runs: -c200 -t1
    threads: int = 1
    timeout_s: float = 2.0  # wrk's own default: a request slower than this counts as a timeout

    @classmethod
    def from_env(cls) -> LoadSettings:
        return cls(seconds=int(os.environ.get("DEMO_LOAD_SECONDS", "5")))


def wrk_note() -> str | None:
    """Why the panel cannot run wrk, or None when it can."""
    try:
        wrk_path()
    except WrkMissing as error:
        return str(error)
    return None


class LoadPanel:
    """Runs wrk against the servers a page picked, one after the other; at most one run at a time.

    One run at a time because two would share the machine's cores and measure each other.
    """

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.running: list[str] = []  # the servers of the run under way, none when idle

    def claim(self, names: object, cards: dict[str, Card]) -> str | None:
        """Claim the panel for a run of these servers; or why not, in words for the page.

        No await between the check and the claim: two pages asking at once cannot both start a run.
        """
        if note := wrk_note():
            return note
        if self.running:
            return f"A run is under way ({' then '.join(self.running)}): try again when it ends."
        if (
            not isinstance(names, list)
            or not all(isinstance(name, str) for name in names)
            or not 1 <= len(names) <= 2
            or len(set(names)) != len(names)
        ):
            return "Pick one or two servers."
        if unknown := [name for name in names if name not in cards]:
            return f"Not a server of this demo: {', '.join(unknown)}."
        self.running = list(names)
        return None

    async def run(self, cards: list[Card], send: Send) -> None:
        """wrk against each card in turn, after claim(); send says what happens as it happens."""
        settings = self.settings
        try:
            await send({"type": "load", "state": "running", "servers": self.running, **asdict(settings)})
            for card in cards:
                await send({"type": "load-server", "name": card.name, "path": card.load_path})
                try:
                    figures = await run_wrk(card.url + card.load_path, settings)
                except RuntimeError as error:
                    figures = {"error": str(error)}
                await send({"type": "load-result", "name": card.name, **figures})
        finally:
            self.running = []
            await send({"type": "load", "state": "idle"})


async def run_wrk(url: str, settings: LoadSettings) -> dict[str, Any]:
    argv = wrk_argv(
        url,
        connections=settings.connections,
        threads=settings.threads,
        duration_s=settings.seconds,
        timeout_s=settings.timeout_s,
    )
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled: the demo is stopping
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}: {output.decode(errors='replace').strip()}")
    run = parse(output.decode(), {})
    return {
        "requests_per_s": run.requests_per_s,
        "p99_ms": run.latency_ms["p99"],
        "requests": run.requests,
        "socket_errors": run.socket_errors,
        "non_2xx": run.errors.get("status", 0),
    }


def last_runs(results_file: Path, cards: list[Card]) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The last full run's date and plan, and for each card the row that ran its command on its load path
    at 0 ms added latency.

    A row that ran the command exactly as documented is preferred; else one that appended arguments
    (say `--workers 2`), which the row then names.
    """
    if not results_file.exists():
        return None, {}
    results = json.loads(results_file.read_text())
    meta = results["meta"]
    run = {"started": meta["started"], "plan": meta["plan"], "machine": meta["machine"]}
    load_paths = {card.name: card.load_path for card in cards}
    rows: dict[str, dict[str, Any]] = {}
    for cell in results["cells"]:
        name = cell["command"].get("registry_name")
        if name not in load_paths or cell["endpoint"] != load_paths[name] or cell["latency_ms"] != 0:
            continue
        if cell["status"] != "ok" or "summary" not in cell:
            continue
        appended = cell["command"]["argv"][len(COMMANDS[name].argv(0)) :]
        row = {
            "label": cell["label"],
            "appended": " ".join(appended),
            "requests_per_s": cell["summary"]["requests_per_s"]["median"],
            "p99_ms": cell["summary"]["p99_ms_median"],
        }
        if name not in rows or (rows[name]["appended"] and not appended):
            rows[name] = row
    return run, rows
