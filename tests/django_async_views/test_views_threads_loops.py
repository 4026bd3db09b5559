"""Listing 9.14 and the loop probe under ASGI and WSGI: which thread runs blocking calls, which loop runs a view."""

from __future__ import annotations

import asyncio
import itertools
import re

import httpx
import pytest

from devenv import servers

from .support import Tables
from .target import Target

SLEEP, CALLS = 0.2, 5  # 1 s when serial, well under gunicorn's 30 s worker timeout


def sleeps(server: servers.RunningServer, thread_sensitive: str, **extra: object) -> dict:
    params = {"sleep_time": SLEEP, "num_calls": CALLS, "thread_sensitive": thread_sensitive, **extra}
    response = httpx.get(f"{server.url}/requests/sync_to_async", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def loop(server: servers.RunningServer) -> dict:
    response = httpx.get(f"{server.url}/requests/loop", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.listing("9.14")
@pytest.mark.parametrize("flag", ["True", "true"])
def test_thread_sensitive_calls_share_one_thread_one_after_another(views_server, flag: str) -> None:
    result = sleeps(views_server, flag)
    assert result["thread_sensitive"] is True
    calls = result["calls"]
    assert len(calls) == CALLS
    assert result["distinct_threads"] == 1
    assert len({call["thread_id"] for call in calls}) == 1
    # Serial: each call starts after the one before it has finished.
    ordered = sorted(calls, key=lambda call: call["started_ms"])
    for before, after in itertools.pairwise(ordered):
        assert after["started_ms"] >= before["finished_ms"] - 0.1
    assert result["elapsed_ms"] >= CALLS * SLEEP * 1000
    # Not on the event loop's thread: the loop stays free while the calls block.
    assert calls[0]["thread"] != result["event_loop"]["thread"]


@pytest.mark.listing("9.14")
@pytest.mark.parametrize("flag", ["False", "false"])
def test_thread_insensitive_calls_run_on_several_threads_at_once(views_server, flag: str) -> None:
    result = sleeps(views_server, flag)
    assert result["thread_sensitive"] is False
    calls = result["calls"]
    assert len(calls) == CALLS
    assert result["distinct_threads"] > 1
    assert len({call["thread_id"] for call in calls}) == result["distinct_threads"]
    # Parallel: some call starts before another has finished, and the whole is
    # well under the serial time (loose bound).
    first_finish = min(call["finished_ms"] for call in calls)
    assert sum(call["started_ms"] < first_finish for call in calls) > 1
    assert result["elapsed_ms"] < CALLS * SLEEP * 1000 * 0.6


@pytest.mark.listing("9.14")
async def test_concurrent_requests_and_the_sensitive_thread(views_server) -> None:
    # Django's ASGI handler gives each request its own ThreadSensitiveContext, so the
    # thread-sensitive calls of two requests run on two threads at the same time (on
    # Django 3.2 the book saw one request wait for the other). Under gunicorn's sync
    # worker both requests use the worker's one main thread, one request after the other.
    params = {"sleep_time": SLEEP, "num_calls": CALLS, "thread_sensitive": "True"}
    async with httpx.AsyncClient(base_url=views_server.url, timeout=60) as client:
        first, second = await asyncio.gather(
            client.get("/requests/sync_to_async", params=params),
            client.get("/requests/sync_to_async", params=params),
        )
    threads = [{call["thread_id"] for call in response.json()["calls"]} for response in (first, second)]
    assert all(len(ids) == 1 for ids in threads)
    if views_server.command.name == "django-asgi":
        assert threads[0] != threads[1]
    else:
        assert threads[0] == threads[1]
        assert {call["thread"] for call in first.json()["calls"]} == {"MainThread"}


@pytest.mark.listing("9.14")
def test_each_request_has_a_sensitive_thread_of_its_own_under_asgi_and_the_main_thread_under_wsgi(
    views_server,
) -> None:
    """The threads stock Django uses, as the page shows them.

    Under ASGI, Django's handler gives each request a ThreadSensitiveContext, for which asgiref
    starts a one-thread executor (ThreadPoolExecutor-N_0, N counting executors) and ends it with
    the request. Under gunicorn's sync worker the worker's main thread runs every request's calls.
    """
    params = {"sleep_time": 0.01, "num_calls": 2, "thread_sensitive": "True", "format": "html"}
    names = []
    for _ in range(3):
        page = httpx.get(f"{views_server.url}/requests/sync_to_async", params=params, timeout=60)
        assert page.status_code == 200, page.text
        rows = Tables(page.text).tables["calls"][1:]
        assert len({thread for _, thread, _, _ in rows}) == 1
        names.append(rows[0][1])
    if views_server.command.name == "django-asgi":
        assert all(re.fullmatch(r"ThreadPoolExecutor-\d+_0", name) for name in names), names
        assert len(set(names)) == 3, names  # a new thread for every request
    else:
        assert names == ["MainThread"] * 3


BAD_SLEEP_PARAMS = [
    ({"num_calls": "5", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "-1", "num_calls": "5", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "11", "num_calls": "1", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "nan", "num_calls": "1", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "inf", "num_calls": "1", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "1e1", "num_calls": "1", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "soon", "num_calls": "1", "thread_sensitive": "True"}, "sleep_time"),
    ({"sleep_time": "1"}, "num_calls"),
    ({"sleep_time": "1", "num_calls": "0", "thread_sensitive": "True"}, "num_calls"),
    ({"sleep_time": "0.1", "num_calls": "51", "thread_sensitive": "True"}, "num_calls"),
    ({"sleep_time": "0.1", "num_calls": "2.5", "thread_sensitive": "True"}, "num_calls"),
    ({"sleep_time": "0.1", "num_calls": "1"}, "thread_sensitive"),
    ({"sleep_time": "0.1", "num_calls": "1", "thread_sensitive": "yes"}, "thread_sensitive"),
    ({"sleep_time": "0.1", "num_calls": "1", "thread_sensitive": ""}, "thread_sensitive"),
    # 26 s of serial sleeping would outlive gunicorn's 30 s sync worker timeout budget.
    ({"sleep_time": "1", "num_calls": "26", "thread_sensitive": "False"}, "sleep_time x num_calls"),
    ({"sleep_time": "0.1", "num_calls": "1", "thread_sensitive": "True", "format": "xml"}, "format"),
    ({"sleep_time": "0.1", "num_calls": "1", "thread_sensitive": "True", "format": ""}, "format"),
]


@pytest.mark.listing("9.14")
@pytest.mark.parametrize(("params", "wrong"), BAD_SLEEP_PARAMS)
def test_bad_sleep_parameter_is_400_naming_it(views_server, params: dict, wrong: str) -> None:
    response = httpx.get(f"{views_server.url}/requests/sync_to_async", params=params, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith(wrong) or f"parameter {wrong}" in error, error


@pytest.mark.listing("9.14")
def test_sleeps_page_for_format_html_or_a_browser(views_server) -> None:
    """One URL, two answers: JSON for scripts, a page with one lane per thread for format=html or Accept: text/html."""
    url = f"{views_server.url}/requests/sync_to_async"
    params = {"sleep_time": SLEEP, "num_calls": CALLS, "thread_sensitive": "True"}
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    answers = {
        "format=html": httpx.get(url, params={**params, "format": "html"}, timeout=60),
        "Accept": httpx.get(url, params=params, headers={"Accept": browser_accept}, timeout=60),
        "format=json": httpx.get(
            url, params={**params, "format": "json"}, headers={"Accept": browser_accept}, timeout=60
        ),
        "default": httpx.get(url, params=params, timeout=60),
    }
    for how in ("format=html", "Accept"):
        response = answers[how]
        assert response.status_code == 200, how
        assert response.headers["content-type"].startswith("text/html"), how
        page = Tables(response.text)
        assert len(page.tables["calls"]) == CALLS + 1, how  # a header and a row per call
        assert page.by_id["distinct-threads"] == "1", how
        assert response.text.count('data-kind="call"') == CALLS, how
    for how in ("format=json", "default"):
        assert answers[how].json()["num_calls"] == CALLS, how
    # Caches must keep the two answers apart.
    assert all("Accept" in response.headers["vary"] for response in answers.values())


@pytest.mark.listing("9.14")
def test_bad_parameter_on_the_sleeps_page_is_a_400_page(views_server) -> None:
    params = {"sleep_time": "soon", "num_calls": "1", "thread_sensitive": "True", "format": "html"}
    response = httpx.get(f"{views_server.url}/requests/sync_to_async", params=params, timeout=10)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert Tables(response.text).by_id["error"].startswith("sleep_time")


@pytest.mark.listing("9.11")
def test_loop_is_one_per_process_under_asgi_and_new_per_request_under_wsgi(views_server) -> None:
    seen = [loop(views_server) for _ in range(4)]
    assert len({probe["pid"] for probe in seen}) == 1  # one worker: differences are not other processes
    assert {probe["server"] for probe in seen} == {views_server.command.name.removeprefix("django-").upper()}
    if views_server.command.name == "django-asgi":
        assert len({probe["loop_serial"] for probe in seen}) == 1
        assert len({probe["loop_id"] for probe in seen}) == 1
        assert seen[0]["thread"] == "MainThread"
    else:
        # A new loop for every request. Its id() may repeat (a freed loop's address is
        # often reused by the next), so the view also numbers each loop it sees.
        serials = [probe["loop_serial"] for probe in seen]
        assert serials == sorted(set(serials))
        assert seen[0]["thread"] != "MainThread"  # async_to_sync runs the loop in a helper thread


@pytest.mark.listing("9.11")
def test_loop_page_answers_html_to_a_browser_and_a_bad_format_is_400(views_server) -> None:
    url = f"{views_server.url}/requests/loop"
    page = httpx.get(url, headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    server = views_server.command.name.removeprefix("django-").upper()
    assert Tables(page.text).by_id["server"] == server
    assert f"This server speaks {server}" in " ".join(Tables(page.text).by_id["meaning"].split())
    bad = httpx.get(url, params={"format": "svg"}, headers={"Accept": "text/html"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json() == {"error": "format must be html or json, got 'svg'"}


@pytest.mark.listing("9.15")
def test_async_to_sync_runs_on_the_server_loop_under_asgi_only(views_server, target: Target) -> None:
    before = loop(views_server)
    page = httpx.get(
        f"{views_server.url}/requests/async_to_sync", params={"url": target.url(), "request_num": 1}, timeout=60
    ).text
    if views_server.command.name == "django-asgi":
        assert f"loop #{before['loop_serial']} of process" in page
    else:
        assert f"loop #{before['loop_serial'] + 1} of process" in page
