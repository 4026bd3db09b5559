"""What the results must say about where they were measured: machine, versions, database."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

import asyncpg
import psutil


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
    }


def packages() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    found = {dist.metadata["Name"]: dist.version for dist in importlib.metadata.distributions()}
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def python() -> dict:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


async def postgres(url: str) -> dict:
    connection = await asyncpg.connect(url)
    try:
        return {
            "version": await connection.fetchval("SELECT version()"),
            "max_connections": int(await connection.fetchval("SHOW max_connections")),
            "max_product_id": await connection.fetchval("SELECT max(product_id) FROM product"),
        }
    finally:
        await connection.close()
