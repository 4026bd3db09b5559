"""`python -m bench.book BOOK`: the book's listings 9.2, 9.5 and 9.8 against this repository's apps, same commands.

BOOK is a clone of the book's public repository; its code runs from there, unmodified, and is never copied here.
Each row is one command line (the book's `gunicorn -w 8`, one aiohttp process, `uvicorn --workers 8`, and the same
with two workers), run on the book's listing and on this repository's app in turn, round after round, against one
database, so that the machine's drift falls on both sides alike. What the listings assume is provided around them:
bench/book_path/sitecustomize.py points their hard-coded connection settings at the run's database, and listing 9.8
runs under the last Starlette with `on_startup`, in a virtualenv of its own built once.
Writes results/book.json (every run) and results/book.md (the table the top README shows).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from devenv import servers
from devenv.commands import COMMANDS, ServerCommand
from devenv.embedded import REPO_ROOT, free_port

from . import metadata
from .database import Database, database
from .figures import Run, summarize
from .processes import group_pids, postgres_on_port, run_main
from .serve import drain, probe
from .tables import number
from .wrk import WrkMissing, run_wrk, wrk_path, wrk_version

RESULTS_DIR = REPO_ROOT / "bench" / "results"
BOOK_PATH = Path(__file__).resolve().parent / "book_path"  # the sitecustomize the book's processes import
BOOK_REPOSITORY = "https://github.com/concurrency-in-python-with-asyncio/concurrency-in-python-with-asyncio"
# Starlette 1.0 removed `on_startup`, which listing 9.8 passes; the releases before it still take it.
OLD_STARLETTE = "starlette<1"
# The server and the driver of listing 9.8's virtualenv: the versions ours run with, so only Starlette differs.
SAME_AS_OURS = ("uvicorn", "uvloop", "httptools", "asyncpg")
BOOK_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asyncio-chapter9" / "book-starlette"

DEFAULTS = {"rounds": 2, "runs": 3, "duration_s": 10.0, "warmup_s": 3.0, "connections": 200, "threads": 1}
TIMEOUT_S = 2.0  # wrk's own default: a request slower than this counts as a timeout error


@dataclass(frozen=True)
class Row:
    """One command line, as the book's listing runs it (in the clone's chapter_09) and as our registry has it."""

    key: str
    command: str  # as the table names it
    listing: str
    book: str  # the book's command, run in chapter_09 of the clone
    book_port_args: str  # how it is moved to a free port ("" for 9.2: sitecustomize gives run_app the port)
    patch: str  # the modules sitecustomize wraps for it
    ours: str  # our registry's command
    ours_args: str = ""
    old_starlette: bool = False

    @property
    def file(self) -> str:
        return f"listing_{self.listing.replace('.', '_')}.py"


BIND = "--bind 127.0.0.1:{port}"
UVICORN_PORT = "--host 127.0.0.1 --port {port}"
ROWS = [
    Row("flask-8", "`gunicorn -w 8` (Flask, 9.5)", "9.5", "gunicorn -w 8 listing_9_5:app", BIND, "psycopg2", "flask"),
    Row(
        "flask-2", "`gunicorn -w 2` (Flask, 9.5)", "9.5", "gunicorn -w 2 listing_9_5:app", BIND, "psycopg2", "flask",
        ours_args="--workers 2",
    ),
    Row("aiohttp-1", "one aiohttp process (9.2)", "9.2", "python listing_9_2.py", "", "asyncpg,aiohttp", "aiohttp"),
    Row(
        "starlette-8", "`uvicorn --workers 8` (Starlette, 9.8)", "9.8",
        "uvicorn --workers 8 --log-level error listing_9_8:app", UVICORN_PORT, "asyncpg", "starlette",
        old_starlette=True,
    ),
    Row(
        "starlette-2", "`uvicorn --workers 2` (Starlette, 9.8)", "9.8",
        "uvicorn --workers 2 --log-level error listing_9_8:app", UVICORN_PORT, "asyncpg", "starlette",
        ours_args="--workers 2", old_starlette=True,
    ),
]  # fmt: skip


class Failed(RuntimeError):
    """One side of a row could not be measured; the message is the one line the run prints and records."""


def book_starlette_python(say: partial[None] | None = None) -> Path:
    """The Python of a virtualenv with the last Starlette that has `on_startup`, built on first use, then reused."""
    pins = [OLD_STARLETTE, *(f"{name}=={importlib.metadata.version(name)}" for name in SAME_AS_OURS)]
    python, marker = BOOK_VENV / "bin" / "python", BOOK_VENV / "installed.txt"
    if marker.exists() and marker.read_text() == "\n".join(pins) and python.exists():
        return python
    if say:
        say(f"building {BOOK_VENV} once, for listing 9.8: {' '.join(pins)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(BOOK_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *pins], check=True)
    marker.write_text("\n".join(pins))
    return python


def package_version(python: Path, name: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip() or "?"


@dataclass
class Settings:
    rounds: int
    runs: int
    duration_s: float
    warmup_s: float
    connections: int
    threads: int

    @property
    def wrk(self) -> dict:
        return {"connections": self.connections, "threads": self.threads, "timeout_s": TIMEOUT_S}


@dataclass
class Sides:
    """The two commands of a row, ready to start."""

    book: ServerCommand
    ours: ServerCommand
    book_env: dict[str, str]
    ours_args: str


def sides(row: Row, chapter: Path, book_python: Path) -> Sides:
    book = ServerCommand(
        f"book-{row.key}", row.book, row.book_port_args, demo_port=0, cwd=str(chapter), ready_path="/brands"
    )
    env = {"PYTHONPATH": str(BOOK_PATH), "BOOK_PATCH": row.patch}
    if row.old_starlette:  # its `uvicorn` first on PATH: the virtualenv's, with the old Starlette
        env["PATH"] = f"{book_python.parent}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return Sides(book, COMMANDS[row.ours], env, row.ours_args)


def measure(
    command: ServerCommand, env: dict[str, str], extra_args: str, db: Database, settings: Settings
) -> list[Run]:
    """Start one side on a free port, check that /brands answers 200, warm it up, then its runs of wrk; stop it."""
    port = free_port()
    env = {**env, "BOOK_DATABASE_URL": db.url, "BOOK_PORT": str(port)}
    started = False
    try:
        with servers.run(
            command, port=port, database_url=db.url, env=env, extra_args=extra_args, ready_timeout=60
        ) as server:
            started = True
            return _runs(server, db, settings)
    except RuntimeError as error:  # a start that failed, or wrk's own failure
        raise Failed(str(error).splitlines()[0] if started else _why_not_started(str(error), port)) from None


def _runs(server: servers.RunningServer, db: Database, settings: Settings) -> list[Run]:
    url = server.url + "/brands"
    try:
        probe(url)
    except OSError as error:
        raise Failed(f"GET /brands did not answer 200: {error}") from None
    if settings.warmup_s > 0:
        run_wrk(url, duration_s=settings.warmup_s, **settings.wrk)
        drain(url)
    cpu_groups: dict[str, Callable[[], list[int]]] = {
        "server": partial(group_pids, server.process.pid),
        "postgres": postgres_on_port(db.port),
    }
    runs = []
    for _ in range(settings.runs):
        runs.append(run_wrk(url, duration_s=settings.duration_s, cpu_groups=cpu_groups, **settings.wrk))
        runs[-1].drain_s = drain(url)
    return runs


def _why_not_started(error: str, port: int) -> str:
    """One line: the port taken, or how the start failed and the last line the server wrote."""
    if "address already in use" in error.lower() or "connection in use" in error.lower():  # uvicorn's, gunicorn's
        return f"port {port} is in use"
    head, *log = [line.strip() for line in error.splitlines() if line.strip()]
    return f"{head.split(' ', 1)[1].rstrip(':')}: {log[-1]}" if log else head


def run(book: Path, rows: list[Row], settings: Settings, book_python: Path | None, say: partial[None]) -> dict:
    """Every row, round after round, the book's side then ours; returns what book.json holds."""
    chapter = book / "chapter_09"
    started = datetime.now(UTC)
    wanted = [row for row in rows if (chapter / row.file).exists()]
    failures = [f"{row.command}: no chapter_09/{row.file} in {book}" for row in rows if row not in wanted]
    for line in failures:
        say(line)
    python = book_python
    if python is None and any(row.old_starlette for row in wanted):
        python = book_starlette_python(say)
    results: dict[str, dict] = {
        row.key: {"key": row.key, "command": row.command, "listing": row.listing, "book": [], "ours": []}
        for row in wanted
    }
    with database([0]) as db:
        for round_ in range(settings.rounds):
            for row in wanted:
                two = sides(row, chapter, python or Path(sys.executable))
                for side, command, env, args in (
                    ("book", two.book, two.book_env, ""),
                    ("ours", two.ours, {}, two.ours_args),
                ):
                    name = f"{row.command}, {'the book' if side == 'book' else 'ours'}, round {round_ + 1}"
                    say(name)
                    try:
                        runs = measure(command, env, args, db, settings)
                    except Failed as error:
                        failures.append(f"{name}: {error}")
                        say(failures[-1])
                        runs = []
                    results[row.key][side].append([r.as_dict() for r in runs])
                    results[row.key][f"{side}_argv"] = command.argv(0, args)
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": metadata.machine(),
        "python": metadata.python()["version"],
        "wrk": wrk_version(),
        "postgres": db.postgres["version"].split(" on ")[0],
        "database": db.source,
        "book": {"repository": BOOK_REPOSITORY, "commit": _commit(book)},
        "settings": {**settings.__dict__, "timeout_s": TIMEOUT_S, "path": "/brands"},
        "versions": {
            "ours": {name: importlib.metadata.version(name) for name in ("aiohttp", "flask", "gunicorn", "starlette")},
            "book 9.8": {"starlette": package_version(python, "starlette")} if python else {},
        },
        "command_line": ["python", "-m", "bench.book", "BOOK", *sys.argv[2:]],
    }
    return {"meta": meta, "rows": [_with_figures(row) for row in results.values()], "failures": failures}


def _commit(book: Path) -> str | None:
    found = subprocess.run(["git", "-C", str(book), "rev-parse", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() or None


def _from_json(rounds: list[list[dict]]) -> list[Run]:
    fields = Run.__dataclass_fields__
    return [Run(**{k: v for k, v in run.items() if k in fields}) for runs in rounds for run in runs]


def _with_figures(row: dict) -> dict:
    """A row's summaries per side, and the ratios: over every run, and per round (their spread)."""
    figures = {side: summarize(_from_json(row[side])) for side in ("book", "ours")}
    per_round = []
    for book_runs, our_runs in zip(row["book"], row["ours"], strict=True):
        if book_runs and our_runs:
            per_round.append(_ratios(summarize(_from_json([book_runs])), summarize(_from_json([our_runs]))))
    # The row's ratio pairs each round's sides, which ran minutes apart at most: the median of the rounds' ratios.
    overall = {
        name: round(statistics.median(values), 2) if (values := [r[name] for r in per_round if r.get(name)]) else None
        for name in ("requests_per_s", "cpu_per_request")
    }
    return {**row, "summary": figures, "ratios": overall, "round_ratios": per_round}


def _ratios(book: dict, ours: dict) -> dict:
    """req/s: ours ÷ the book's; CPU per request: the book's ÷ ours. Above 1, ours does better on both."""
    if not book or not ours:
        return {}
    cpu_book, cpu_ours = book["server_cpu_us_per_request_median"], ours["server_cpu_us_per_request_median"]
    return {
        "requests_per_s": round(ours["requests_per_s"]["median"] / book["requests_per_s"]["median"], 2),
        "cpu_per_request": round(cpu_book / cpu_ours, 2) if cpu_book and cpu_ours else None,
    }


def markdown(results: dict) -> str:
    """book.md: a line on how it was measured, the table, and any row that could not be run."""
    return "\n".join(["# The book's listings against this repository", "", method(results), "", *table(results), ""])


def method(results: dict) -> str:
    meta, s = results["meta"], results["meta"]["settings"]
    machine = meta["machine"]
    commit = (meta["book"]["commit"] or "unknown commit")[:7]
    return (
        f"{meta['started'][:10]}, {machine['cores']} cores ({machine['cpu_model']}); Python {meta['python']}, "
        f"{meta['wrk']}, {meta['postgres']}; the book's repository at {commit}, its listing 9.8 under Starlette "
        f"{meta['versions']['book 9.8'].get('starlette', '?')}. `wrk -t{s['threads']} -c{s['connections']} "
        f"-d{s['duration_s']:g}s {s['path']}`; {s['rounds']} rounds, in each every command started on the book's "
        f"listing and then on this repository's app, {s['warmup_s']:g} s of warm-up and {s['runs']} runs each. "
        "req/s and p99: median of every run; CPU: the server's processes' CPU time per request served, median; "
        "ratios: ours ÷ the book's for req/s, the book's ÷ ours for CPU (above 1: ours does better), each "
        "round's sides paired, the median of the rounds' ratios and in brackets their lowest and highest. "
        "Errors: wrk's socket errors and non-2xx answers, summed. Server, wrk and Postgres share the machine."
    )


def table(results: dict) -> list[str]:
    lines = [
        "| command | the book's listing req/s | this repository req/s | ratio | CPU µs per request, the book's / ours "
        "| CPU ratio | p99 ms, the book's / ours | errors, the book's / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        book, ours = row["summary"]["book"], row["summary"]["ours"]
        cpu = "server_cpu_us_per_request_median"
        if not book or not ours:
            lines.append(f"| {row['command']} | {_rate(book)} | {_rate(ours)} | - | | | | |")
            continue
        lines.append(
            f"| {row['command']} | {_rate(book)} | {_rate(ours)} | {_ratio(row, 'requests_per_s')} | "
            f"{number(book[cpu])} / {number(ours[cpu])} | {_ratio(row, 'cpu_per_request')} | "
            f"{book['p99_ms_median']:,.0f} / {ours['p99_ms_median']:,.0f} | {_errors(book)} / {_errors(ours)} |"
        )
    if results["failures"]:
        lines += ["", "Not measured:", "", *(f"- {line}" for line in results["failures"])]
    return lines


def _rate(summary: dict) -> str:
    return f"{summary['requests_per_s']['median']:,.0f}" if summary else "not measured"


def _errors(summary: dict) -> str:
    return f"{summary['socket_errors'] + summary['errors']['status']:,}"


def _ratio(row: dict, name: str) -> str:
    overall = row["ratios"].get(name)
    if overall is None:
        return "-"
    rounds = [r[name] for r in row["round_ratios"] if r.get(name) is not None]
    spread = f" ({min(rounds):.2f}-{max(rounds):.2f})" if len(rounds) > 1 else ""
    return f"{overall:.2f}{spread}"


def write(results: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "book.json", out / "book.md"]
    paths[0].write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    paths[1].write_text(markdown(results))
    return paths


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.book", description=__doc__.split("\n\n")[0])
    p.add_argument("book", nargs="?", type=Path, help=f"a clone of {BOOK_REPOSITORY}")
    p.add_argument("--rounds", type=int, default=DEFAULTS["rounds"], help="rounds (book, ours) per command")
    p.add_argument("--runs", type=int, default=DEFAULTS["runs"], help="wrk runs per side and round")
    p.add_argument("--duration", dest="duration_s", type=float, default=DEFAULTS["duration_s"], help="s per run")
    p.add_argument("--warmup", dest="warmup_s", type=float, default=DEFAULTS["warmup_s"], help="s of warm-up")
    p.add_argument("--connections", type=int, default=DEFAULTS["connections"], help="wrk connections")
    p.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="wrk threads")
    p.add_argument("--rows", help=f"commands to run, of {','.join(row.key for row in ROWS)} (default: all)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="result folder (default bench/results)")
    p.add_argument("--book-python", type=Path, help="Python to run listing 9.8 with (default: a virtualenv built once)")
    p.add_argument("--redraw", type=Path, metavar="BOOK_JSON", help="write book.md from a book.json, no measuring")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.redraw:
        results = json.loads(args.redraw.read_text())  # figures and ratios computed again from the runs
        write({**results, "rows": [_with_figures(row) for row in results["rows"]]}, args.redraw.parent)
        return 0
    if args.book is None or not (args.book / "chapter_09").is_dir():
        where = "no BOOK given" if args.book is None else f"{args.book} has no chapter_09 folder"
        print(f"error: {where}: pass a clone of {BOOK_REPOSITORY} (make bench-book BOOK=path)", file=sys.stderr)
        return 2
    try:
        wrk_path()
    except WrkMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keys = [key.strip() for key in (args.rows or "").split(",") if key.strip()]
    unknown = [key for key in keys if key not in {row.key for row in ROWS}]
    if unknown:
        print(f"error: unknown row {', '.join(unknown)}; known: {', '.join(r.key for r in ROWS)}", file=sys.stderr)
        return 2
    rows = [row for row in ROWS if not keys or row.key in keys]
    fields = {name: getattr(args, name) for name in Settings.__dataclass_fields__}
    say = partial(print, file=sys.stderr, flush=True)
    results = run(args.book.resolve(), rows, Settings(**fields), args.book_python, say)
    for path in write(results, args.out):
        say(f"wrote {path}")
    print("\n".join(table(results)))
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    run_main(main)
