"""`make demo`'s front page: every running server as a card with its health, the last benchmark, a load button.

An aiohttp app in the demo's own process, on 127.0.0.1 only. One task per server polls its health every
second; the app pushes each change, and the load panel's progress, to every open page over its WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import signal
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, WSCloseCode, WSMsgType, web

from .cards import OPENAPI, Card
from .embedded import REPO_ROOT
from .loadrun import LoadPanel, LoadSettings, last_runs, wrk_note

PAGE_DIR = Path(__file__).resolve().parent / "page"
RESULTS = "bench/results"
CHARTS = ("throughput.png", "latency.png", "sweep.png")
POLL_EVERY_S = 1.0
POLL_TIMEOUT_S = 3.0  # /readyz itself waits up to 2 s for the database (products_db/health.py)

CARDS = web.AppKey("cards", dict[str, Card])
FILES = web.AppKey("files", set[str])  # the only files of the repository it serves
HEALTH = web.AppKey("health", dict[str, dict[str, Any]])
PANEL = web.AppKey("panel", LoadPanel)
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
TASKS = web.AppKey("tasks", set[asyncio.Task])

# The page runs its own two files and nothing else (no inline script or style), talks only to this
# server, and is framed by no one. 'self' covers ws: to the same host in CSP Level 3 (Chromium, Firefox).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
TYPES = {".png": "image/png", ".json": "application/json"}  # everything else is shown as text


async def check(session: ClientSession, card: Card) -> dict[str, Any]:
    """One round of a card's checks: its state, and what each path answered."""
    answers: list[str] = []
    for path in card.health:
        try:
            async with session.get(card.url + path, allow_redirects=False) as response:
                answers.append(f"{path} {response.status}")
                if response.status != 200:  # alive but not ready, or not even alive
                    return {"state": "unready" if len(answers) > 1 else "down", "checks": answers}
        except TimeoutError:  # before ClientError: aiohttp's read timeout is both
            answers.append(f"{path}: no answer in {POLL_TIMEOUT_S:g} s")
            return {"state": "slow", "checks": answers}
        except ClientError as error:
            answers.append(f"{path}: {'refused' if isinstance(error, ClientConnectorError) else type(error).__name__}")
            return {"state": "down", "checks": answers}
    return {"state": "healthy", "checks": answers}


async def watch(app: web.Application, session: ClientSession, card: Card) -> None:
    while True:
        health = await check(session, card)
        if health != app[HEALTH].get(card.name):
            app[HEALTH][card.name] = health
            await broadcast(app, {"type": "health", "name": card.name, **health})
        await asyncio.sleep(POLL_EVERY_S)


async def background(app: web.Application) -> AsyncIterator[None]:
    """The health watchers and any load run: started with the app, cancelled with it (wrk is killed)."""
    async with ClientSession(timeout=ClientTimeout(total=POLL_TIMEOUT_S)) as session:
        for card in app[CARDS].values():
            spawn(app, watch(app, session, card))
        yield
        tasks: set[asyncio.Task] = app[TASKS]
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def spawn(app: web.Application, coroutine: Any) -> None:
    task = asyncio.create_task(coroutine)
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def broadcast(app: web.Application, message: dict[str, Any]) -> None:
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for socket in list(sockets):
        with suppress(ConnectionError):  # a page that closed meanwhile
            await socket.send_json(message)


async def socket(request: web.Request) -> web.WebSocketResponse:
    """Health changes and load runs, pushed; a page asks for a run with {"run": [name, ...]}."""
    # A page of another site must not start load runs from a visitor's browser (the Origin cannot be forged).
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text=f"only pages of {request.host} may open this WebSocket")
    app = request.app
    ws = web.WebSocketResponse(max_msg_size=4096)
    await ws.prepare(request)
    app[SOCKETS].add(ws)
    for name, health in app[HEALTH].items():
        await ws.send_json({"type": "health", "name": name, **health})
    if app[PANEL].running:
        await ws.send_json({"type": "load", "state": "running", "servers": app[PANEL].running})
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            names = json.loads(message.data).get("run")
        except (ValueError, AttributeError):
            names = None
        if refusal := app[PANEL].claim(names, app[CARDS]):
            await ws.send_json({"type": "refused", "message": refusal})
        else:
            spawn(app, app[PANEL].run([app[CARDS][name] for name in names], partial(broadcast, app)))
    return ws


async def close_sockets(app: web.Application) -> None:
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"the demo is stopping")


def book_comparison() -> dict[str, Any] | None:
    """The book's listings against this repository's apps (`make bench-book`), when a run wrote it."""
    markdown = REPO_ROOT / RESULTS / "book.md"
    if not markdown.exists():
        return None
    written = datetime.fromtimestamp(markdown.stat().st_mtime, UTC).isoformat(timespec="seconds")
    with suppress(OSError, ValueError, KeyError, TypeError):
        written = json.loads((REPO_ROOT / RESULTS / "book.json").read_text())["meta"]["started"]
    return {"markdown": markdown.read_text(), "written": written, "file": f"{RESULTS}/book.md"}


def served_files(cards: list[Card]) -> set[str]:
    """The repository's files the page links to: each card's source and README, the contract, the results."""
    files = {OPENAPI, "bench/README.md"} | {f"{RESULTS}/{name}" for name in (*CHARTS, "results.md", "book.md")}
    files |= {path for card in cards for path in card.source}
    files |= {f"{path.split('/')[0]}/README.md" for card in cards for path in card.source}
    return {path for path in files if (REPO_ROOT / path).is_file()}


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE_DIR / "index.html")


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)  # the browser asks; there is none, and a 404 would fill its console


async def page_data(request: web.Request) -> web.Response:
    app = request.app
    cards = list(app[CARDS].values())
    run, rows = last_runs(REPO_ROOT / RESULTS / "results.json", cards)
    charts = [f"{RESULTS}/{name}" for name in CHARTS if (REPO_ROOT / RESULTS / name).exists()]
    return web.json_response(
        {
            "cards": [{**asdict(card), "last_run": rows.get(card.name)} for card in cards],
            "load": {**asdict(app[PANEL].settings), "wrk_note": wrk_note()},
            "last_run": run and {**run, "charts": charts, "file": f"{RESULTS}/results.md"},
            "book": book_comparison(),
        }
    )


async def repository_file(request: web.Request) -> web.Response:
    path = request.match_info["path"]
    if path not in request.app[FILES]:
        raise web.HTTPNotFound(text=f"the front page serves only the files it links to, not {path}")
    suffix = Path(path).suffix
    charset = None if suffix in TYPES else "utf-8"
    body = (REPO_ROOT / path).read_bytes()
    return web.Response(body=body, content_type=TYPES.get(suffix, "text/plain"), charset=charset)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(HEADERS)


def create_app(cards: list[Card], settings: LoadSettings) -> web.Application:
    app = web.Application()
    app[CARDS] = {card.name: card for card in cards}
    app[FILES] = served_files(cards)
    app[HEALTH] = {}
    app[PANEL] = LoadPanel(settings)
    app[SOCKETS] = weakref.WeakSet()
    app[TASKS] = set()
    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_sockets)  # else the server would wait for each open page to leave
    app.on_response_prepare.append(security_headers)
    app.add_routes(
        [
            web.get("/", index),
            web.get("/favicon.ico", no_icon),
            web.get("/page.json", page_data),
            web.get("/ws", socket),
            web.get("/repo/{path:.+}", repository_file),
            web.static("/static", PAGE_DIR),
        ]
    )
    return app


async def serve(app: web.Application, port: int, ready: Callable[[str], None]) -> int:
    """Serve the page on 127.0.0.1 until SIGINT, SIGTERM or SIGHUP; that signal's number."""
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(signum: int) -> None:
        if not stopped.done():
            stopped.set_result(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop, signum)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready(f"http://127.0.0.1:{port}/")
        return await stopped
    finally:
        await runner.cleanup()
