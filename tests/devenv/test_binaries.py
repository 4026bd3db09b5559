"""Postgres of your own: `make db` and the throwaway server on the programs PG_BIN_DIR names (here Debian's)."""

from __future__ import annotations

import asyncio
import glob
from pathlib import Path

import httpx
import psutil
import pytest

from devenv import binaries, embedded
from devenv.throwaway import restartable_server, throwaway_server
from products_db.schema import prepare
from tests.conftest import query, tool_missing


def major(folder: str) -> int:
    return int(Path(folder).parent.name)


@pytest.fixture
def debian_bin_dir(monkeypatch: pytest.MonkeyPatch) -> str:
    """The newest /usr/lib/postgresql/N/bin of Debian's server package, set as PG_BIN_DIR for the test."""
    found = [str(Path(path).parent) for path in glob.glob("/usr/lib/postgresql/*/bin/postgres")]
    if not found:
        tool_missing("Debian's PostgreSQL server is not installed: apt-get install postgresql (see .ci/run)")
    folder = max(found, key=major)
    monkeypatch.setenv("PG_BIN_DIR", folder)
    return folder


def server_version(url: str) -> str:
    return query(url, "SHOW server_version")[0]["server_version"]


def test_make_db_runs_on_the_named_binaries(debian_bin_dir: str) -> None:
    """The same start() as `make db`, on its own folder and port: same settings, pg_ctl supervision, found again."""
    # restartable_server calls embedded.start(), and removes the server even if pytest is killed.
    with restartable_server() as (data_dir, port, url):
        assert server_version(url).startswith(f"{major(debian_bin_dir)}.")
        assert (data_dir / "PG_VERSION").read_text().strip() == str(major(debian_bin_dir))
        [postmaster] = [
            p
            for p in psutil.process_iter(["name", "exe", "cmdline"])
            if p.info["name"] == "postgres" and str(data_dir) in (p.info["cmdline"] or [])
        ]
        assert postmaster.info["exe"].startswith(debian_bin_dir)
        asyncio.run(prepare(url))  # the schema and seed load on it as on the wheel's server
        assert query(url, "SELECT count(*) AS n FROM brand")[0]["n"] == 100
        assert embedded.start(data_dir, port) == url  # a second `make db` finds it running
        assert embedded.stop(data_dir) is True
        assert not embedded.port_in_use(port)


def test_an_app_runs_on_a_throwaway_server_of_the_named_binaries(debian_bin_dir: str, start_server) -> None:
    with throwaway_server() as url:  # its supervisor inherits PG_BIN_DIR
        assert server_version(url).startswith(f"{major(debian_bin_dir)}.")
        asyncio.run(prepare(url))
        with start_server("aiohttp", database_url=url) as server:
            assert len(httpx.get(f"{server.url}/brands").json()) == 100
            assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}


def test_a_data_folder_of_another_version_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    (data_dir / "PG_VERSION").write_text("9\n")  # what PostgreSQL 9 would have left
    with pytest.raises(embedded.EmbeddedError, match=r"holds a PostgreSQL 9 database .*`make db-reset`"):
        embedded.start(data_dir, embedded.free_port())


def test_a_folder_without_postgres_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path))
    with pytest.raises(embedded.EmbeddedError, match=f"PG_BIN_DIR={tmp_path} holds no `postgres` program"):
        binaries.bin_dir()
