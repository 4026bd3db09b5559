"""The counter page (listing 9.10) in a real browser: headless Chromium driven by Playwright, several tabs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, Page, expect

from devenv.servers import REPO_ROOT

from .test_counter_shared import group_pids, wait_for_workers, worker_rows

# The counter (9.9) and its page (9.10) in a browser.
pytestmark = pytest.mark.listing("9.9", "9.10")

ARTIFACTS = REPO_ROOT / "test-artifacts"
# The shared mode needs a write, a NOTIFY and a read per change: allow it a little longer.
EXPECT_TIMEOUT_MS = 15_000


async def show_count(page: Page, count: int) -> None:
    await expect(page.locator("#counter")).to_have_text(str(count), timeout=EXPECT_TIMEOUT_MS)
    await expect(page.locator("#status")).to_have_attribute("data-state", "connected")


async def landed_on(page: Page) -> tuple[str, int]:
    """The host and worker the page says its WebSocket landed on."""
    where = page.locator("#where")
    await expect(where).to_contain_text("served by host", timeout=EXPECT_TIMEOUT_MS)
    host, worker = await where.get_attribute("data-host"), await where.get_attribute("data-worker")
    assert host and worker, await where.inner_text()
    await expect(where).to_have_text(f"served by host {host}, worker {worker}")
    return host, int(worker)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["counter", "counter-shared"])
async def test_tabs_show_how_many_are_open(browser: Browser, start_server, database_url: str, command: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with start_server(command) as server:
        if command == "counter-shared":
            await wait_for_workers(database_url, server)
        context = await browser.new_context(viewport={"width": 480, "height": 240})
        tabs = [await context.new_page() for _ in range(3)]
        for tab in tabs:
            await tab.goto(server.url + "/")
        for tab in tabs:
            await show_count(tab, 3)
        if command == "counter-shared":
            # The kernel picks a worker per connection; reload a tab until the three are not all on
            # one worker, so the count they agree on really crosses processes.
            for attempt in range(20):
                busy = [n for n in (await worker_rows(database_url, server)).values() if n > 0]
                if len(busy) >= 2:
                    break
                await tabs[attempt % 3].reload()
                for tab in tabs:
                    await show_count(tab, 3)
            assert len(busy) >= 2, f"20 reloads, and every tab still on one worker: {busy}"
        # Each tab names the worker its WebSocket landed on: one of this server's processes, on 127.0.0.1.
        landed = [await landed_on(tab) for tab in tabs]
        assert {host for host, _ in landed} == {"127.0.0.1"}
        assert {worker for _, worker in landed} <= group_pids(server), landed
        if command == "counter-shared":
            busy_pids = {pid for pid, n in (await worker_rows(database_url, server)).items() if n > 0}
            assert {worker for _, worker in landed} == busy_pids, landed
        await tabs[0].screenshot(path=ARTIFACTS / f"{command}-three-tabs.png")

        await tabs.pop().close()
        for tab in tabs:
            await show_count(tab, 2)
        await tabs[0].screenshot(path=ARTIFACTS / f"{command}-tab-closed.png")
        await context.close()


async def test_page_shows_the_server_going_away_and_reconnects(browser: Browser, start_server) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = await browser.new_context(viewport={"width": 480, "height": 240})
    page = await context.new_page()
    with start_server("counter") as server:
        port = server.port
        await page.goto(server.url + "/")
        await show_count(page, 1)
    # The server is gone: the page says so instead of showing a stale count.
    status = page.locator("#status")
    await expect(status).to_have_attribute("data-state", "disconnected", timeout=EXPECT_TIMEOUT_MS)
    await expect(status).to_contain_text("disconnected, retrying")
    await expect(page.locator("#counter")).not_to_have_text("1")
    await page.screenshot(path=ARTIFACTS / "counter-disconnected.png")
    # Back on the same address: the page reconnects by itself (its backoff is capped at 10 s).
    with start_server("counter", port=port):
        await show_count(page, 1)
    await context.close()


# Records every Content-Security-Policy violation the page reports (an init script is not subject to the policy).
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""
# Opens a WebSocket and says whether it opened or failed (refused by the server, or blocked by the page's policy).
TRY_WEBSOCKET = """(url) => new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.onopen = () => { socket.close(); resolve("opened"); };
    socket.onerror = () => resolve("failed");
})"""


async def test_the_page_works_under_its_content_security_policy(browser: Browser, start_server) -> None:
    with start_server("counter") as server:
        context = await browser.new_context()
        page = await context.new_page()
        await page.add_init_script(RECORD_VIOLATIONS)
        await page.goto(server.url + "/")
        await show_count(page, 1)
        await landed_on(page)
        # The page's own script and styles are files of its site: the policy lets them in, silently.
        assert await page.locator("#counter").evaluate("(e) => getComputedStyle(e).fontWeight") == "700"
        assert await page.evaluate("window.violations") == []
        # What an attacker would inject does not run: an inline script, a WebSocket to another host.
        await page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.head.append(script);
            }"""
        )
        assert await page.evaluate("window.injected") is None
        elsewhere = f"ws://127.0.0.2:{server.port}/counter"
        assert await page.evaluate(TRY_WEBSOCKET, elsewhere) == "failed"
        violations = await page.evaluate("window.violations")
        assert violations == ["script-src-elem inline", f"connect-src {elsewhere}"], violations
        await show_count(page, 1)
        await context.close()


@asynccontextmanager
async def another_site() -> AsyncIterator[str]:
    """A page of another site on this machine (say a dev server on another port); yields its URL.

    A real server on 127.0.0.1, not a page the browser makes up: Chromium refuses, by itself, any
    connection from a page of a public site to a loopback address (Local Network Access), which
    would hide what the counter itself does.
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<!DOCTYPE html><title>another site</title><p>another site"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def test_another_sites_page_cannot_open_the_counter_websocket(browser: Browser, start_server) -> None:
    with start_server("counter") as server:
        context = await browser.new_context()
        own = await context.new_page()
        await own.goto(server.url + "/")
        await show_count(own, 1)
        # The other site's page tries to read the count through the visitor's browser, which would
        # send this site's cookies along: Cross-Site WebSocket Hijacking.
        url = server.url.replace("http://", "ws://", 1) + "/counter"
        async with another_site() as elsewhere:
            evil = await context.new_page()
            await evil.goto(elsewhere)
            assert await evil.evaluate(TRY_WEBSOCKET, url) == "failed"
        assert '"WebSocket /counter" 403' in server.log()  # refused at the handshake
        # The visitor's own tab was never joined by the other site's socket; its page may open one.
        await show_count(own, 1)
        assert await own.evaluate(TRY_WEBSOCKET, url) == "opened"
        await context.close()
