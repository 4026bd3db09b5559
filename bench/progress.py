"""The progress display: a bar with the time left, the step under way, and a line per measured cell."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import ceiling
from .plan import Cell, Plan

# Seconds a server takes to start and stop, for the time estimate only.
START_STOP_S = 4.0


def estimate_s(plan: Plan, group: list[Cell]) -> float:
    measuring = len(group) * plan.repeats * plan.duration_s
    if group[0].configuration.kind == "db ceiling":
        return measuring + plan.repeats * (ceiling.SETUP_S + 1)
    return START_STOP_S + plan.warmup_s + measuring


@dataclass
class Display:
    progress: Progress
    task: TaskID

    def status(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def advance(self, seconds: float) -> None:
        self.progress.update(self.task, advance=seconds)

    def report(self, cell: Cell) -> None:
        name = f"{cell.configuration.label} · {cell.latency_ms} ms · {cell.endpoint.path}"
        if cell.status == "failed":
            self.progress.console.print(f"[red]failed[/]   {name}: {cell.reason.splitlines()[0]}")
        elif cell.status == "ok":
            s = cell.summary()
            rate = s["requests_per_s"]
            self.progress.console.print(
                f"[green]measured[/] {name}: {rate['median']:,.0f} req/s "
                f"({rate['min']:,.0f}-{rate['max']:,.0f}), p99 {s['p99_ms_median']:,.0f} ms, "
                f"socket errors {s['socket_errors']}, HTTP errors {s['errors']['status']}"
            )


@contextmanager
def display(console: Console, total_s: float) -> Iterator[Display]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        yield Display(progress, progress.add_task("starting", total=total_s))
