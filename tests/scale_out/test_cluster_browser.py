"""The counter page through the cluster in a real browser: tabs spread over the hosts, and agree on one total."""

from __future__ import annotations

from playwright.async_api import Browser

from devenv.servers import RunningServer
from tests.starlette_app.test_counter_browser import ARTIFACTS, landed_on, show_count

from .support import cluster_hosts, host_pids


async def test_tabs_land_on_every_host_and_show_one_exact_total(browser: Browser, cluster: RunningServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    hosts = {host.address for host in cluster_hosts(cluster)}
    context = await browser.new_context(viewport={"width": 480, "height": 240})
    try:
        tabs, landed = [], {}
        # nginx hands each new WebSocket to the host with the fewest: a tab per host, give or take.
        for _ in range(3 * len(hosts)):
            tab = await context.new_page()
            await tab.goto(cluster.url + "/")
            host, worker = await landed_on(tab)
            tabs.append(tab)
            landed.setdefault(host, set()).add(worker)
            if set(landed) == hosts:
                break
        assert set(landed) == hosts, landed
        for host, workers in landed.items():  # the worker a tab names is that host's counter process
            assert workers == {host_pids(cluster, host)["counter"]}
        for tab in tabs:
            await show_count(tab, len(tabs))
        await tabs[0].screenshot(path=ARTIFACTS / "cluster-tabs.png")

        await tabs.pop().close()
        for tab in tabs:
            await show_count(tab, len(tabs))
    finally:
        await context.close()  # its tabs must not stay counted in the package's next tests
