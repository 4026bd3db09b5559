"""Listings 9.11, 9.12 and 9.15 under ASGI and WSGI: the concurrent batch page, its failures, and bad input."""

from __future__ import annotations

import html
import time

import httpx
import pytest

from devenv import servers
from tests.figures import record

from .support import NO_ANSWER, REQUEST_TIMEOUT, TEST_ENV, VIEWS_SERVERS, Tables, number, paths
from .target import Target, closed_port_url

BATCH_VIEWS = ["/requests/", "/requests/async_to_sync"]


def fetch(server: servers.RunningServer, path: str, **params: object) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=60)


def batch_page(server: servers.RunningServer, path: str, url: str, request_num: int) -> Tables:
    response = fetch(server, path, url=url, request_num=request_num)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return Tables(response.text)


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_batch_lists_every_request_with_plausible_times(views_server, target: Target, path: str) -> None:
    delay, request_num, size = 0.2, 8, 1234
    page = batch_page(views_server, path, target.url(delay=delay, size=size, status=201), request_num)

    rows = page.tables["successes"][1:]  # the first row is the header
    assert len(rows) == request_num
    wall_ms = number(page.by_id["wall-ms"])
    for status, time_ms, body_length, sent_ms, answered_ms in rows:
        assert status == "201"
        assert int(body_length) == size
        # Each request took at least the target's delay, and far less than the timeout.
        assert delay * 1000 <= number(time_ms) < 1000
        # Sent and answered within the batch, on the clock the timeline draws.
        assert 0 <= number(sent_ms) < number(answered_ms) <= wall_ms + 0.06
        assert number(answered_ms) - number(sent_ms) == pytest.approx(number(time_ms), abs=0.16)
    assert "failures" not in page.tables  # no empty table, but words
    assert page.by_id["no-failures"] == "no failures"
    assert page.by_id["request-count"] == str(request_num)
    assert page.by_id["failure-count"] == "0"
    assert page.by_id["success-count"] == str(request_num)
    times = sorted(number(row[1]) for row in rows)
    assert number(page.by_id["min-ms"]) == pytest.approx(times[0], abs=0.06)
    assert number(page.by_id["max-ms"]) == pytest.approx(times[-1], abs=0.06)
    assert times[0] - 0.06 <= number(page.by_id["median-ms"]) <= times[-1] + 0.06
    assert number(page.by_id["wall-ms"]) >= number(page.by_id["max-ms"]) - 0.06


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_batch_is_concurrent(views_server, target: Target, path: str) -> None:
    # Sent one after another, 20 requests of 0.3 s would take 6 s; concurrently
    # they take a little over 0.3 s. The bound is loose on purpose: a third of 6 s.
    delay, request_num = 0.3, 20
    started = time.perf_counter()
    page = batch_page(views_server, path, target.url(delay=delay), request_num)
    elapsed = time.perf_counter() - started
    assert page.by_id["success-count"] == str(request_num), page.tables.get("failures")
    assert number(page.by_id["wall-ms"]) < request_num * delay * 1000 / 3
    assert elapsed < request_num * delay / 3
    # The serial bar: the same requests one after another would take the sum of their times.
    times = [number(row[1]) for row in page.tables["successes"][1:]]
    assert number(page.by_id["serial-ms"]) == pytest.approx(sum(times), abs=0.05 * request_num + 0.05)
    assert number(page.by_id["serial-ms"]) >= request_num * delay * 1000
    what = f"`{views_server.command.name}` `{path}`, {request_num} requests answering in {delay:g} s"
    record("concurrent-batch", f"{what}: the batch took", number(page.by_id["wall-ms"]), "ms")
    record("concurrent-batch", f"{what}: their times added up", number(page.by_id["serial-ms"]), "ms")


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_failures_and_successes_in_one_batch(views_server, target: Target, path: str) -> None:
    # Every second request of this key is cut off by the target in the middle of its body.
    url = target.url(delay=0.05, fail_every=2, key=f"{views_server.command.name}{path}")
    page = batch_page(views_server, path, url, 10)
    failures = [row[0] for row in page.tables["failures"][1:]]
    assert len(failures) == 5
    assert all(failure.startswith("ClientPayloadError: ") for failure in failures), failures
    assert len(page.tables["successes"][1:]) == 5
    assert page.by_id["failure-count"] == "5"


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_connection_refused_is_a_failure_row(views_server, path: str) -> None:
    page = batch_page(views_server, path, closed_port_url(), 3)
    failures = [row[0] for row in page.tables["failures"][1:]]
    assert len(failures) == 3
    assert failures == [NO_ANSWER] * 3
    assert "successes" not in page.tables
    assert page.by_id["no-successes"] == "no successful results"
    assert "min-ms" not in page.by_id  # no times to summarise


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_timeout_is_a_failure_row(views_server, target: Target, path: str) -> None:
    # The target waits twice the servers' ASYNC_API_REQUEST_TIMEOUT: the page comes well before.
    started = time.perf_counter()
    page = batch_page(views_server, path, target.url(delay=2 * REQUEST_TIMEOUT), 2)
    assert time.perf_counter() - started < REQUEST_TIMEOUT + 2
    failures = [row[0] for row in page.tables["failures"][1:]]
    assert failures == [f"TimeoutError: no complete answer within {REQUEST_TIMEOUT} s"] * 2


MiB = 1024 * 1024
OVER_ANSWER = "AnswerTooLarge: the answer is over 1,048,576 bytes (ASYNC_API_MAX_RESPONSE_BYTES)"


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_an_endless_answer_is_cut_off_as_that_requests_failure(views_server, target: Target, path: str) -> None:
    """A target streaming 1 GiB: each request reads its 1 MiB (ASYNC_API_MAX_RESPONSE_BYTES), fails, and hangs up."""
    key = f"endless {path}"
    page = batch_page(views_server, path, target.url(stream=1024 * MiB, key=key), 3)
    failures = [row[0] for row in page.tables["failures"][1:]]
    assert failures == [f"{OVER_ANSWER}, stopped reading"] * 3
    assert page.by_id["success-count"] == "0"
    # What the target could write: the MiB read by each request, plus what the sockets' buffers held.
    record(
        "endless-answer",
        f"`{views_server.command.name}` `{path}`: bytes the target wrote",
        target.sent[key] / MiB,
        "MiB",
    )
    assert target.sent[key] < 3 * 32 * MiB, target.sent[key]


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_an_answer_declared_too_large_is_not_read(views_server, target: Target, path: str) -> None:
    page = batch_page(views_server, path, target.url(stream=2 * MiB, declare=2 * MiB), 1)
    assert [row[0] for row in page.tables["failures"][1:]] == [f"{OVER_ANSWER}, declares 2,097,152 bytes"]


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_the_batch_reads_at_most_its_total(views_server, target: Target, path: str) -> None:
    """Twelve answers of 1,000,000 bytes each fit the bound for one answer, not the batch's 10 MiB together."""
    size, request_num = 1_000_000, 12
    page = batch_page(views_server, path, target.url(stream=size), request_num)
    successes = page.tables.get("successes", [[]])[1:]
    failures = [row[0] for row in page.tables["failures"][1:]]
    assert [int(row[2]) for row in successes] == [size] * len(successes)
    assert len(successes) * size <= 10 * MiB
    assert len(successes) + len(failures) == request_num
    assert set(failures) == {
        "AnswerTooLarge: the batch read over 10,485,760 bytes (ASYNC_API_MAX_BATCH_BYTES), stopped reading"
    }


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_error_status_is_a_result_not_a_failure(views_server, target: Target, path: str) -> None:
    page = batch_page(views_server, path, target.url(status=503), 2)
    assert [row[0] for row in page.tables["successes"][1:]] == ["503", "503"]
    assert page.by_id["failure-count"] == "0"


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
def test_script_in_the_url_is_escaped(views_server, target: Target, path: str) -> None:
    script = "<script>alert(1)</script>"
    response = fetch(views_server, path, url=f"{target.url()}?q={script}", request_num=1)
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert html.escape(f"{target.url()}?q={script}") in response.text
    # The 400 page echoes the bad value too, escaped.
    response = fetch(views_server, path, url=f"javascript:{script}", request_num=1)
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


BAD_BATCH_PARAMS = [
    ({"request_num": "1"}, "url"),
    ({"url": "", "request_num": "1"}, "url"),
    ({"url": "ftp://127.0.0.1/", "request_num": "1"}, "url"),
    ({"url": "file:///etc/passwd", "request_num": "1"}, "url"),
    ({"url": "127.0.0.1:8000/", "request_num": "1"}, "url"),
    ({"url": "http://", "request_num": "1"}, "url"),
    ({"url": "http://[::1", "request_num": "1"}, "url"),
    ({"url": "http://127.0.0.1:99999/", "request_num": "1"}, "url"),
    ({"url": "http://127.0.0.1/a b", "request_num": "1"}, "url"),
    ({"url": "http://127.0.0.1/" + "a" * 3000, "request_num": "1"}, "url"),
    ({"url": "http://127.0.0.1/"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": ""}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "0"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "-1"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "101"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "ten"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "1.5"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "1e2"}, "request_num"),
    ({"url": "http://127.0.0.1/", "request_num": "9" * 40}, "request_num"),
]


@pytest.mark.parametrize("path", paths(*BATCH_VIEWS))
@pytest.mark.parametrize(("params", "wrong"), BAD_BATCH_PARAMS)
def test_bad_parameter_is_400_naming_it(views_server, path: str, params: dict, wrong: str) -> None:
    response = fetch(views_server, path, **params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    error = Tables(response.text).by_id["error"]
    assert error.startswith(wrong) or f"parameter {wrong}" in error, error


@pytest.mark.listing("9.13")
def test_index_links_every_view(views_server) -> None:
    response = fetch(views_server, "/")
    assert response.status_code == 200
    page = response.text
    for link in (
        "/requests/?url=",
        "/requests/async_to_sync?url=",
        "/requests/sync_to_async?sleep_time=1&amp;num_calls=5&amp;thread_sensitive=True",
        "/requests/sync_to_async?sleep_time=1&amp;num_calls=5&amp;thread_sensitive=False",
        "/requests/loop",
    ):
        assert f'href="{link}' in page, link
    # The example batch links are valid requests (their target may or may not be up).
    example = html.unescape(page.split('href="/requests/async_to_sync?')[1].split('"')[0])
    assert httpx.get(f"{views_server.url}/requests/async_to_sync?{example}", timeout=60).status_code == 200


@pytest.fixture(scope="module")
def restricted_server(start_server):
    env = {
        **TEST_ENV,
        "ASYNC_API_ALLOWED_TARGET_HOSTS": "localhost",
        "ASYNC_API_MAX_REQUEST_NUM": "3",
        "ASYNC_API_MAX_RESPONSE_BYTES": "1000",
    }
    with start_server(VIEWS_SERVERS[0], env=env) as server:
        yield server


@pytest.mark.listing("9.11")
def test_allowed_target_hosts_and_bounds_come_from_the_environment(restricted_server, target: Target) -> None:
    refused = fetch(restricted_server, "/requests/", url=target.url(), request_num=1)
    assert refused.status_code == 400
    assert "127.0.0.1" in Tables(refused.text).by_id["error"]
    allowed = target.url().replace("127.0.0.1", "localhost")
    assert fetch(restricted_server, "/requests/", url=allowed, request_num=3).status_code == 200
    assert fetch(restricted_server, "/requests/", url=allowed, request_num=4).status_code == 400
    fits, over = (
        Tables(fetch(restricted_server, "/requests/", url=target.url("localhost", stream=size), request_num=1).text)
        for size in (1000, 1001)
    )
    assert fits.tables["successes"][1][2] == "1000"
    assert over.tables["failures"][1][0].startswith("AnswerTooLarge: the answer is over 1,000 bytes")


@pytest.mark.listing("9.13")
@pytest.mark.parametrize("path", paths("/", *BATCH_VIEWS, "/requests/sync_to_async", "/requests/loop"))
def test_views_answer_get_only(views_server, path: str) -> None:
    assert httpx.post(views_server.url + path, timeout=10).status_code == 405


@pytest.mark.listing("9.11")
def test_a_malformed_bound_stops_the_server_with_its_name(start_server) -> None:
    with (
        pytest.raises(RuntimeError, match="ASYNC_API_MAX_REQUEST_NUM must be a positive integer, got 'lots'"),
        start_server(VIEWS_SERVERS[1], env={**TEST_ENV, "ASYNC_API_MAX_REQUEST_NUM": "lots"}),
    ):
        pass
