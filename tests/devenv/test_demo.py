"""`make demo`: every documented server at once on distinct ports, a table of URLs, a front page showing them
all (in headless Chromium, as the counter's page is tested), and every process stopped on SIGTERM."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import httpx
import psutil
import pytest
from playwright.async_api import Browser, Page, expect

from devenv import servers
from devenv.demo import FRONT_PAGE_PORT, missing_tools
from devenv.embedded import port_in_use
from devenv.frontpage import RESULTS
from tests.conftest import IN_CI, require_tool

ARTIFACTS = servers.REPO_ROOT / "test-artifacts"
# Health is polled every second; a card may wait for its server's answer up to 3 s.
HEALTH_TIMEOUT_MS = 10_000


def free_offset() -> int:
    """An offset that moves every demo port onto a free one (a developer's own demo may be running)."""
    ports = [command.demo_port for command in servers.COMMANDS.values()]
    for _ in range(100):
        # Below 32768, where Linux starts handing out ephemeral ports for outgoing connections.
        offset = random.randrange(10_000, 24_000, 100)
        if not any(port_in_use(port + offset) for port in [*ports, FRONT_PAGE_PORT]):
            return offset
    raise RuntimeError("no free range of demo ports")


def missing_tools_of(names: set[str]) -> str:
    return ", ".join(sorted({tool for name in names for tool in missing_tools(servers.COMMANDS[name])}))


@dataclass
class Demo:
    process: subprocess.Popen
    lines: list[str]
    table: dict[str, str]  # name: the URL the table prints
    front_page: str
    skipped: set[str]
    offset: int


@pytest.fixture(scope="module")
def demo(database_url: str) -> Iterator[Demo]:
    """One demo for the whole module, with load runs of 1 s; the last test stops it."""
    # A command whose system tool (nginx) is missing is skipped, and says so; in CI every tool is there.
    skipped = {name for name, command in servers.COMMANDS.items() if missing_tools(command)}
    if skipped and IN_CI:
        pytest.fail(f"the demo would skip {', '.join(sorted(skipped))}: install {missing_tools_of(skipped)}")
    offset = free_offset()
    env = {**servers.environment(database_url, {}), "DEMO_PORT_OFFSET": str(offset), "DEMO_LOAD_SECONDS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devenv.demo"],
        cwd=servers.REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "the demo exited early:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("Ctrl-C stops every server"):
                break
        table = {
            words[0]: words[1]
            for words in (line.split() for line in lines)
            if len(words) > 2 and words[0] in servers.COMMANDS and words[1].startswith("http://127.0.0.1:")
        }
        front_page = next(line.split()[2] for line in lines if line.startswith("front page: "))
        yield Demo(process, lines, table, front_page, skipped, offset)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)


@pytest.mark.slow
@pytest.mark.serial("cluster")  # the demo starts a cluster too (tests/scale_out/test_cluster_lifecycle.py)
def test_demo_runs_every_documented_server(demo: Demo) -> None:
    table, lines = demo.table, demo.lines
    assert set(table) == set(servers.COMMANDS) - demo.skipped, "".join(lines)
    assert all(any(line.startswith(f"skipping {name}: it needs") for line in lines) for name in demo.skipped)
    # The front page comes first: one URL, the demo's own port, on 127.0.0.1 only.
    assert demo.front_page == f"http://127.0.0.1:{FRONT_PAGE_PORT + demo.offset}/"
    first = [line.split()[0] for line in lines if line.startswith(("front page: ", "app "))]
    assert first == ["front", "app"], "".join(lines)
    ports = set()
    for name, url in table.items():
        command = servers.COMMANDS[name]
        port = int(url.split(":")[2].split("/")[0])
        assert port == command.demo_port + demo.offset
        ports.add(port)
        assert httpx.get(url, timeout=30).status_code == 200, name
    assert len(ports) == len(table)  # distinct ports
    # The Django index's examples call the demo's aiohttp API on 127.0.0.1, which the demo allows.
    params = {"url": table["aiohttp"], "request_num": 2}
    batch = httpx.get(f"{table['django-asgi']}requests/", params=params, timeout=60)
    assert batch.status_code == 200 and 'id="no-failures"' in batch.text, batch.text


# Records every Content-Security-Policy violation the page reports (an init script is not subject to the policy).
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


async def open_front_page(browser: Browser, demo: Demo) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.add_init_script(RECORD_VIOLATIONS)
    await page.goto(demo.front_page)
    return page


def last_full_run() -> dict:
    return json.loads((servers.REPO_ROOT / RESULTS / "results.json").read_text())


@pytest.mark.serial("cluster")
async def test_the_front_page_shows_every_server_healthy(demo: Demo, browser: Browser) -> None:
    page = await open_front_page(browser, demo)
    cards = page.locator(".card")
    await expect(cards).to_have_count(len(demo.table))
    for name, url in demo.table.items():
        command = servers.COMMANDS[name]
        card = page.locator(f"#card-{name}")
        await expect(card).to_have_attribute("data-state", "healthy", timeout=HEALTH_TIMEOUT_MS)
        await expect(card.locator(".command")).to_contain_text(command.documented)
        for listing in command.listings:
            await expect(card.locator(".listings")).to_contain_text(listing)
        # What the card polls, and what each path answered.
        polled = ["/"] if name.startswith("raw-") else ["/healthz", "/readyz"]
        await expect(card.locator(".checks")).to_have_text(" · ".join(f"{path} 200" for path in polled))
        # Its links lead to this server's own pages, and to its files, served by the front page itself.
        server = url.split("/")[2]
        hrefs = await card.locator(".links a").evaluate_all("(links) => links.map((a) => a.href)")
        assert any(href.startswith(f"http://{server}/") for href in hrefs), hrefs
        sources = await card.locator(".source a").evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
        assert sources[: len(command.source)] == [f"repo/{path}" for path in command.source]
    await expect(page.locator("#summary")).to_have_text(f"{len(demo.table)} of {len(demo.table)} healthy.")
    # A file a card links to is the repository's file, as text; a file it does not link to is not served.
    source = await page.request.get(demo.front_page + "repo/aiohttp_api/views.py")
    assert source.status == 200 and await source.text() == (servers.REPO_ROOT / "aiohttp_api/views.py").read_text()
    assert (await page.request.get(demo.front_page + "repo/pyproject.toml")).status == 404
    # The last full run: its date and its charts, drawn (an image that failed to load has no width).
    started = last_full_run()["meta"]["started"]
    await expect(page.locator("#bench-run")).to_contain_text(started[:16].replace("T", " "))
    charts = page.locator("#bench-run img")
    await expect(charts).to_have_count(3)
    assert all(await charts.evaluate_all("(images) => images.map((image) => image.naturalWidth > 0)"))
    # The book comparison: shown when bench/results/book.md exists, else the page says it is absent.
    book = servers.REPO_ROOT / RESULTS / "book.md"
    await expect(page.locator("#book")).to_have_attribute("data-state", "present" if book.exists() else "absent")
    if not book.exists():
        await expect(page.locator("#book")).to_contain_text("bench/results/book.md is absent")
    assert await page.evaluate("window.violations") == []
    await page.context.close()


def number(text: str) -> float:
    figure = re.match(r"[\d,.]+", text)
    assert figure, f"not a figure: {text!r}"
    return float(figure.group().replace(",", ""))


@pytest.mark.serial("cluster")
async def test_a_load_run_draws_two_servers_beside_the_last_full_run(demo: Demo, browser: Browser) -> None:
    require_tool("wrk", "apt-get install wrk")
    ARTIFACTS.mkdir(exist_ok=True)
    page = await open_front_page(browser, demo)
    await expect(page.locator(".card")).to_have_count(len(demo.table))
    await expect(page.locator("#load-note")).to_be_hidden()
    picked = ["flask", "aiohttp"]
    for name in picked:
        await page.check(f"#load-servers input[value={name}]")
    # Two picked: the others cannot be picked too.
    await expect(page.locator("#load-servers input[value=starlette]")).to_be_disabled()
    await page.click("#load-run")
    await expect(page.locator("#load-status")).to_have_attribute("data-state", "running")
    # Another page asking meanwhile is refused politely, and nothing else starts.
    async with aiohttp.ClientSession() as session, session.ws_connect(demo.front_page + "ws") as other:
        while (message := await other.receive_json(timeout=10))["type"] != "load":
            pass
        assert message["state"] == "running" and message["servers"] == ["aiohttp", "flask"]
        await other.send_json({"run": ["raw-asgi"]})
        while (message := await other.receive_json(timeout=10))["type"] == "health":
            pass
        under_way = "A run is under way (aiohttp then flask): try again when it ends."
        assert message == {"type": "refused", "message": under_way}
        # A page of another site may not open the WebSocket at all.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(demo.front_page + "ws", origin="http://127.0.0.1:1")
        assert refused.value.status == 403
    await expect(page.locator("#load-status")).to_have_attribute("data-state", "idle", timeout=30_000)
    rows = page.locator("#load-results .result")
    await expect(rows).to_have_count(2)
    # Beside each: the last full run's row of its command as documented, at /brands with no added latency.
    documented = {
        name: next(
            cell
            for cell in last_full_run()["cells"]
            if cell["command"].get("registry_name") == name
            and cell["latency_ms"] == 0
            and cell["endpoint"] == "/brands"
            and cell["command"]["argv"][:-2] == servers.COMMANDS[name].argv(0)[:-2]
            and len(cell["command"]["argv"]) == len(servers.COMMANDS[name].argv(0))
        )
        for name in picked
    }
    drawn: dict[str, dict[str, float]] = {}
    for name in picked:
        row = page.locator(f"#load-results .result[data-name={name}]")
        await expect(row).to_have_attribute("data-state", "done")
        await expect(row.locator("h4")).to_contain_text("GET /brands")
        figures = {}
        for metric in ("rps", "p99"):
            for which in ("now", "last"):
                value = row.locator(f".{metric} .value.{which}")
                figures[f"{metric}-{which}"] = number(await value.inner_text())
                bar = row.locator(f".{metric} .track .bar.{which}")
                figures[f"{metric}-{which}-share"] = float(await bar.get_attribute("data-share") or "nan")
        drawn[name] = figures
        assert figures["rps-now"] > 0 and figures["p99-now"] > 0, figures
        summary = documented[name]["summary"]  # shown rounded to 1 req/s and 0.1 ms
        assert figures["rps-last"] == pytest.approx(summary["requests_per_s"]["median"], abs=0.5)
        assert figures["p99-last"] == pytest.approx(summary["p99_ms_median"], abs=0.05)
        await expect(row.locator(".legend")).to_contain_text(documented[name]["label"])
    # Each metric's bars share one scale: the largest figure fills its track, the others in proportion.
    for metric in ("rps", "p99"):
        values = {(n, w): drawn[n][f"{metric}-{w}"] for n in picked for w in ("now", "last")}
        most = max(values.values())
        for (name, which), value in values.items():
            assert drawn[name][f"{metric}-{which}-share"] == pytest.approx(value / most, abs=0.002)
    await page.screenshot(path=ARTIFACTS / "demo-load-run.png", full_page=True)
    await page.context.close()


def server_process(demo: Demo, name: str) -> psutil.Process:
    """The process the demo started for this server (the leader of its process group)."""
    port = int(demo.table[name].split(":")[2].split("/")[0])
    for child in psutil.Process(demo.process.pid).children():
        if str(port) in " ".join(child.cmdline()):
            return child
    raise AssertionError(f"no process of the demo serves {name} on port {port}")


@pytest.mark.serial("cluster")
async def test_a_stopped_servers_card_turns_unhealthy(demo: Demo, browser: Browser) -> None:
    page = await open_front_page(browser, demo)
    card = page.locator("#card-raw-asgi")
    await expect(card).to_have_attribute("data-state", "healthy", timeout=HEALTH_TIMEOUT_MS)
    os.killpg(server_process(demo, "raw-asgi").pid, signal.SIGTERM)
    await expect(card).to_have_attribute("data-state", "down", timeout=HEALTH_TIMEOUT_MS)
    await expect(card.locator(".checks")).to_have_text("/: refused")
    await expect(page.locator("#summary")).to_have_text(f"{len(demo.table) - 1} of {len(demo.table)} healthy.")
    await expect(page.locator("#card-raw-wsgi")).to_have_attribute("data-state", "healthy")
    await page.context.close()


@pytest.mark.serial("cluster")
def test_sigterm_stops_the_demo_and_every_server(demo: Demo) -> None:
    ports = {int(url.split(":")[2].split("/")[0]) for url in demo.table.values()} | {FRONT_PAGE_PORT + demo.offset}
    demo.process.send_signal(signal.SIGTERM)
    assert demo.process.wait(timeout=120) == 128 + signal.SIGTERM
    assert not [port for port in ports if port_in_use(port)], "a server outlived the demo"
