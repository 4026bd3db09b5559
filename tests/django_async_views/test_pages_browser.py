"""The Django pages in a real browser (headless Chromium): the timelines show the overlap, read from the drawing."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, expect

from devenv import servers
from devenv.servers import REPO_ROOT

from .support import PATH_LISTINGS
from .target import Target

ARTIFACTS = REPO_ROOT / "test-artifacts"
BATCH_VIEWS = {"requests": "/requests/", "async_to_sync": "/requests/async_to_sync"}
SLEEP, CALLS = 0.2, 5
# The rendered box of every bar of a kind, in CSS pixels, as the browser laid it out.
BOXES = """els => els.map(e => {
    const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, failed: e.dataset.failed === "true",
            startMs: Number(e.dataset.startMs), endMs: Number(e.dataset.endMs)};
})"""


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 900, "height": 700})
    yield await context.new_page()
    await context.close()


async def bars(page: Page, kind: str) -> list[dict]:
    return await page.locator(f"#timeline rect.bar[data-kind={kind}]").evaluate_all(BOXES)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def overlap(a: dict, b: dict) -> float:
    """How many pixels two bars share on the time axis (negative: the gap between them)."""
    return min(a["right"], b["right"]) - max(a["left"], b["left"])


@pytest.mark.parametrize(
    "view", [pytest.param(view, marks=pytest.mark.listing(*PATH_LISTINGS[path])) for view, path in BATCH_VIEWS.items()]
)
async def test_batch_bars_overlap_and_beat_the_serial_bar(
    page: Page, views_server: servers.RunningServer, target: Target, view: str
) -> None:
    delay, request_num = 0.3, 20
    query = urlencode({"url": target.url(delay=delay), "request_num": request_num})
    await page.goto(f"{views_server.url}{BATCH_VIEWS[view]}?{query}")
    requests = await bars(page, "request")
    assert len(requests) == request_num
    assert not any(bar["failed"] for bar in requests)
    for bar in requests:
        assert bar["endMs"] - bar["startMs"] >= delay * 1000
    # Concurrent: one moment lies inside every bar, the last sent before the first answered.
    assert max(bar["left"] for bar in requests) < min(bar["right"] for bar in requests)
    [wall], [serial] = await bars(page, "wall"), await bars(page, "serial")
    assert wall["left"] == serial["left"]
    # The whole batch is far shorter than the same requests one after another (about 20 times here).
    assert (wall["right"] - wall["left"]) * 5 < serial["right"] - serial["left"]
    assert max(bar["right"] for bar in requests) <= wall["right"] + 1
    await expect(page.locator("#no-failures")).to_have_text("no failures")
    await expect(page.locator("#timeline text.mark")).to_have_count(0)
    await screenshot(page, f"{views_server.command.name}-{view}")


@pytest.mark.listing("9.11", "9.12")
async def test_failed_requests_are_hatched_and_marked(
    page: Page, views_server: servers.RunningServer, target: Target
) -> None:
    url = target.url(delay=0.1, fail_every=2, key=f"browser-{views_server.command.name}")
    await page.goto(f"{views_server.url}/requests/?{urlencode({'url': url, 'request_num': 10})}")
    requests = await bars(page, "request")
    assert sum(bar["failed"] for bar in requests) == 5
    # Not by colour alone: a hatch pattern and a cross after each failed bar.
    failed = page.locator("#timeline rect.failed[data-kind=request]")
    assert set(await failed.evaluate_all("els => els.map(e => getComputedStyle(e).fill)")) == {'url("#hatch")'}
    await expect(page.locator("#timeline text.mark")).to_have_count(5)
    await expect(page.locator("#timeline text.mark").first).to_have_text("✕")
    await expect(page.locator("#failures tr")).to_have_count(6)  # a header and five rows
    await screenshot(page, f"{views_server.command.name}-requests-with-failures")


async def sleeps_page(page: Page, server: servers.RunningServer, thread_sensitive: bool) -> list[dict]:
    # No format parameter: the browser's Accept header (text/html first) picks the page over the JSON.
    await page.goto(
        f"{server.url}/requests/sync_to_async?sleep_time={SLEEP}&num_calls={CALLS}&thread_sensitive={thread_sensitive}"
    )
    await expect(page.locator("h1")).to_contain_text(f"thread_sensitive={thread_sensitive}")
    calls = await bars(page, "call")
    assert len(calls) == CALLS
    await screenshot(page, f"{server.command.name}-sync_to_async-{str(thread_sensitive).lower()}")
    return sorted(calls, key=lambda bar: bar["left"])


@pytest.mark.listing("9.14")
async def test_thread_sensitive_calls_form_one_staircase(page: Page, views_server: servers.RunningServer) -> None:
    calls = await sleeps_page(page, views_server, True)
    assert len({bar["top"] for bar in calls}) == 1  # one lane: one thread
    for before, after in itertools.pairwise(calls):
        assert overlap(before, after) <= 0.5  # each starts when the one before has finished
    await expect(page.locator("#distinct-threads")).to_have_text("1")


@pytest.mark.listing("9.14")
async def test_thread_insensitive_calls_stack_in_parallel(page: Page, views_server: servers.RunningServer) -> None:
    calls = await sleeps_page(page, views_server, False)
    assert len({bar["top"] for bar in calls}) > 1  # several lanes: several threads
    width = min(bar["right"] - bar["left"] for bar in calls)
    # Running at once: some pair of calls on different lanes shares most of its time.
    assert any(overlap(a, b) > width / 2 for a, b in itertools.combinations(calls, 2) if a["top"] != b["top"])


@pytest.mark.listing("9.11")
async def test_loop_page_says_what_the_id_means(page: Page, views_server: servers.RunningServer) -> None:
    serials = []
    for _ in range(3):
        await page.goto(f"{views_server.url}/requests/loop")
        serials.append(int(await page.locator("#loop-serial").inner_text()))
    meaning = page.locator("#meaning")
    if views_server.command.name == "django-asgi":
        await expect(page.locator("#server")).to_have_text("ASGI")
        await expect(meaning).to_contain_text("one event loop runs every async view of this worker process")
        assert len(set(serials)) == 1
    else:
        await expect(page.locator("#server")).to_have_text("WSGI")
        await expect(meaning).to_contain_text("new event loop for this request")
        assert serials == sorted(set(serials))
    await screenshot(page, f"{views_server.command.name}-loop")


@pytest.mark.listing("9.13")
async def test_index_puts_both_settings_side_by_side(page: Page, views_server: servers.RunningServer) -> None:
    await page.goto(views_server.url + "/")
    true, false = page.locator("#thread-sensitive-true"), page.locator("#thread-sensitive-false")
    true_box, false_box = await true.bounding_box(), await false.bounding_box()
    assert true_box and false_box
    assert true_box["y"] == false_box["y"] and true_box["x"] + true_box["width"] <= false_box["x"]
    await screenshot(page, f"{views_server.command.name}-index")
    await false.get_by_role("link", name="the timeline").click()
    await expect(page.locator("h1")).to_contain_text("thread_sensitive=False")
