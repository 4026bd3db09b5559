"""`python -m devenv.screenshot URL SERVER SERVER`: the READMEs' pictures of a running demo's front page.

Headless Chromium (the system's, as the tests use it), driven by Playwright: the page once every card is
healthy, then its load panel after a run against the two servers named. PNGs in devenv/screenshots/,
reduced to 64 colours so they stay small.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import sys
from pathlib import Path

from PIL import Image
from playwright.async_api import async_playwright, expect

OUT = Path(__file__).resolve().parent / "screenshots"


def save(png: bytes, name: str) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64)
    image.save(OUT / name, optimize=True)
    print(f"wrote {OUT / name} ({(OUT / name).stat().st_size // 1024} KiB)")


async def shoot(url: str, servers: list[str], chromium: str) -> None:
    OUT.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 880})
        await page.goto(url)
        cards = await page.locator(".card").count()
        await expect(page.locator(".card[data-state=healthy]")).to_have_count(cards, timeout=30_000)
        save(await page.screenshot(), "front-page.png")
        for name in servers:
            await page.check(f"#load-servers input[value={name}]")
        await page.click("#load-run")
        await expect(page.locator("#load-status")).to_have_attribute("data-state", "idle", timeout=120_000)
        for row in await page.locator("#load-results .result").all():
            print(" ".join((await row.inner_text()).split()))
        save(await page.locator("#load").screenshot(), "load-run.png")
        await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.screenshot", description=__doc__)
    parser.add_argument("url", help="the demo's front page, as `make demo` prints it")
    parser.add_argument("servers", nargs=2, help="the two servers the load run compares")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("error: Chromium is not installed: apt-get install chromium", file=sys.stderr)
        return 1
    asyncio.run(shoot(args.url, args.servers, chromium))
    return 0


if __name__ == "__main__":
    sys.exit(main())
