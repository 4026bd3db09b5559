"""The demo's front page on its own, in headless Chromium: what it says when wrk is missing or a server is not ready.

The whole demo's page (every server healthy, a load run, a server stopped) is tested in test_demo.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from devenv import loadrun
from devenv.cards import HEALTH, Card
from devenv.frontpage import create_app
from devenv.loadrun import LoadSettings


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """The app on a free port of 127.0.0.1; yields its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


def card(name: str, url: str) -> Card:
    return Card(
        name=name,
        url=url,
        what=f"a stand-in for {name}",
        command=f"python -m {name}",
        listings=("9.2",),
        source=("aiohttp_api/views.py",),
        links=(),
        health=HEALTH,
        load_path="/brands",
    )


def alive_not_ready() -> web.Application:
    """A server whose process answers but whose database does not: /healthz 200, /readyz 503."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"error": "the database is unavailable, try again later"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def test_without_wrk_the_panel_says_so_and_a_card_shows_not_ready(
    browser: Browser, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no wrk on it
    async with serving(alive_not_ready()) as server:
        async with serving(create_app([card("aiohttp", server.rstrip("/"))], LoadSettings())) as front_page:
            page = await browser.new_page()
            await page.goto(front_page)
            shown = page.locator("#card-aiohttp")
            await expect(shown).to_have_attribute("data-state", "unready", timeout=10_000)
            await expect(shown.locator(".checks")).to_have_text("/healthz 200 · /readyz 503")
            await expect(page.locator("#summary")).to_have_text("0 of 1 healthy.")
            # The panel says why it cannot run, and how to install wrk; nothing on it can be pressed.
            note = page.locator("#load-note")
            await expect(note).to_be_visible()
            await expect(note).to_contain_text("wrk is not installed: install it: `sudo apt-get install wrk`")
            await expect(page.locator("#load-servers input[value=aiohttp]")).to_be_disabled()
            await expect(page.locator("#load-run")).to_be_disabled()
            # Asked all the same, over the WebSocket, the server refuses with the same note.
            async with aiohttp.ClientSession() as session, session.ws_connect(front_page + "ws") as socket:
                await socket.send_json({"run": ["aiohttp"]})
                while (message := await socket.receive_json(timeout=10))["type"] == "health":
                    pass
                assert message["type"] == "refused" and message["message"].startswith("wrk is not installed")
            await page.close()


@pytest.mark.parametrize(
    ("asked", "refusal"),
    [
        (None, "Pick one or two servers."),  # not JSON, or no "run"
        ("aiohttp", "Pick one or two servers."),
        ([{"name": "aiohttp"}], "Pick one or two servers."),
        ([], "Pick one or two servers."),
        (["aiohttp", "aiohttp"], "Pick one or two servers."),
        (["aiohttp", "flask", "starlette"], "Pick one or two servers."),
        (["aiohttp", "nginx"], "Not a server of this demo: nginx."),
    ],
)
def test_the_panel_refuses_what_a_page_should_not_ask(
    asked: object, refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loadrun, "wrk_note", lambda: None)  # as if wrk were installed
    panel = loadrun.LoadPanel(LoadSettings())
    cards = {name: card(name, "http://127.0.0.1:1") for name in ("aiohttp", "flask", "starlette")}
    assert panel.claim(asked, cards) == refusal
    assert panel.running == []
    assert panel.claim(["flask", "aiohttp"], cards) is None
    assert panel.running == ["flask", "aiohttp"]
