"""Runs the plan: the database, then each group of cells on its server or on the database ceiling."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rich.console import Console

from . import metadata
from .ceiling_runs import measure_ceiling
from .database import Database, database
from .plan import Cell, Plan, plan_cells
from .progress import display, estimate_s
from .serve import serve


def run(plan: Plan, console: Console) -> dict:
    """Measure every cell of the plan; returns the results, as results.json holds them."""
    groups = plan_cells(plan)
    started, clock = datetime.now(UTC), time.monotonic()
    with database(plan.latencies_ms) as db:
        _run_groups(groups, plan, db, console)
    return {
        "meta": metadata.meta(plan, db, started, clock),
        "cells": [cell.as_dict() for group in groups for cell in group],
    }


def _run_groups(groups: list[list[Cell]], plan: Plan, db: Database, console: Console) -> None:
    with display(console, sum(estimate_s(plan, group) for group in groups)) as shown:
        for group in groups:
            configuration = group[0].configuration
            shown.status(f"{configuration.label} · {group[0].latency_ms} ms")
            if configuration.kind == "db ceiling":
                measure_ceiling(group, plan, db, shown.status)
            else:
                serve(group, plan, db, shown.status)
            for cell in group:
                shown.report(cell)
            shown.advance(estimate_s(plan, group))
