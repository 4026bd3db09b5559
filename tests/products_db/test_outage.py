"""Postgres restarts under load: every server answers 503 JSON meanwhile, logs two lines, loses and doubles nothing.

Each server runs its documented command against a Postgres apart from the other tests'
(conftest's stoppable_database), which the test stops ("fast" shutdown: sessions
are cut) and starts again while a few
clients keep asking for /brands, /products/1 and POST /product. The figures it
prints (`pytest -s`) are the Reliability table's.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devenv import embedded, servers
from tests.conftest import LOG_LINE, query
from tests.products_db.test_logs import UNAVAILABLE, wait_for_pools

SERVERS = ["aiohttp", "aiohttp-gunicorn", "flask", "starlette", "starlette-gunicorn", "django-asgi"]
CLIENTS = 4  # concurrent clients, each cycling through the three requests
DOWN_FOR = 2.0  # seconds between the stop and the start of Postgres
MAX_REQUESTS = 3000  # per client: the load loop is bounded in count as well as in time
BACK_WITHIN = 30.0  # seconds after Postgres is back by which a server must answer 200 (generous: 2 shared cores)
SETTLE = 3.0  # seconds of load after the first 200, for every worker to replace its broken connections


@dataclass
class Answer:
    at: float
    request: str
    status: int | None  # None: no HTTP answer at all
    json_body: object = None
    product_name: str | None = None


@dataclass
class Load:
    """A few clients in threads, each sending GET /brands, GET /products/1 and POST /product in turn."""

    url: str
    tag: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[Answer] = field(default_factory=list)

    def client(self, number: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for i in range(MAX_REQUESTS):
                if self.stop.is_set():
                    return
                name = f"{self.tag}-{number}-{i}"
                self.answers.append(self.send(client, "GET", "/brands"))
                self.answers.append(self.send(client, "GET", "/products/1"))
                self.answers.append(self.send(client, "POST", "/product", {"product_name": name, "brand_id": 1}))

    @staticmethod
    def send(client: httpx.Client, method: str, path: str, product: dict | None = None) -> Answer:
        request, name = f"{method} {path}", product and product["product_name"]
        try:
            response = client.request(method, path, json=product)
        except httpx.HTTPError:
            return Answer(time.monotonic(), request, None, product_name=name)
        try:
            body = response.json()
        except ValueError:
            body = response.text  # not JSON: kept to show in the failure
        return Answer(time.monotonic(), request, response.status_code, body, name)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def quiet_log(server: servers.RunningServer, quiet_for: float = 1.0, timeout: float = 30.0) -> int:
    """The log's size once nothing was added for `quiet_for` s: gunicorn boots its workers after the first answers."""
    size, since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = len(server.log().encode())
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return size
        time.sleep(0.1)
    raise AssertionError(f"{server.command.name} kept logging for {timeout:.0f} s:\n{server.log()[-3000:]}")


def first_200(url: str, since: float) -> float:
    """Seconds from `since` until GET /brands answers 200, polling with new connections."""
    deadline = since + BACK_WITHIN
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/brands", headers={"Connection": "close"}, timeout=5).status_code == 200:
                return time.monotonic() - since
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no 200 within {BACK_WITHIN:.0f} s of Postgres being back")


@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
def test_a_postgres_restart_under_load(name: str, start_server, stoppable_database: tuple[Path, int, str]) -> None:
    data_dir, port, url = stoppable_database
    tag = f"outage-{name}-{time.time_ns()}"
    with start_server(name, database_url=url) as server:
        wait_for_pools(server, url)
        assert httpx.get(f"{server.url}/brands", timeout=30).status_code == 200
        log_before = quiet_log(server)
        with Load(server.url, tag) as load:
            time.sleep(1.0)  # the load runs against a healthy database first
            stopped = time.monotonic()
            embedded.stop(data_dir)  # pg_ctl -m fast: running queries are cancelled, sessions cut
            time.sleep(DOWN_FOR)
            embedded.start(data_dir, port)  # returns once Postgres accepts connections again
            back = time.monotonic()
            to_first_200 = first_200(server.url, back)
            time.sleep(SETTLE)
        log = server.log().encode()[log_before:].decode(errors="replace")
        # Without restarting the server: every worker answers again.
        after = [httpx.get(f"{server.url}/brands", headers={"Connection": "close"}, timeout=30) for _ in range(40)]
        assert [r.status_code for r in after] == [200] * 40, [r.text for r in after if r.status_code != 200]

    answers = load.answers
    statuses = Counter(a.status for a in answers)
    unavailable = [a for a in answers if a.status == 503]
    # Every product answered 201 is stored exactly once, and none is stored twice.
    rows = query(url, "SELECT product_name FROM product WHERE product_name LIKE %s", f"{tag}-%")
    stored = Counter(row["product_name"] for row in rows)
    lost = [a.product_name for a in answers if a.status == 201 and stored[a.product_name] == 0]
    doubled = [product for product, count in stored.items() if count > 1]
    per_process: dict[str, list[str]] = defaultdict(list)
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        per_process[match["pid"] if match else "?"].append(line)
    during = [a for a in answers if stopped <= a.at <= back + to_first_200]
    print(
        f"\n{name}: outage {back - stopped:.1f} s, first 200 {to_first_200:.2f} s after Postgres was back, "
        f"{len(unavailable)} x 503 ({sum(a.status == 503 for a in during)} until the first 200), "
        f"other 5xx {sum(1 for a in answers if a.status and a.status >= 500 and a.status != 503)}, "
        f"{len(log.encode())} bytes of log, {len(lost)} writes lost, {len(doubled)} doubled, "
        f"{len(answers)} requests {dict(statuses)}, {len(per_process)} processes logging"
    )
    print("\n".join(next(iter(per_process.values()), [])))  # what one process logged

    assert None not in statuses, f"requests without an answer: {statuses}"
    others = [(a.request, a.status, str(a.json_body)[:300]) for a in answers if a.status not in (200, 201, 503)]
    assert not others, others[:5]
    assert unavailable, "the restart went unnoticed: the test proves nothing"
    assert all(a.json_body == UNAVAILABLE for a in unavailable), {str(a.json_body)[:200] for a in unavailable}
    assert not lost and not doubled, (lost, doubled)

    # Per process: one line when the outage starts, one when it ends, nothing else; no traceback.
    assert "Traceback" not in log, log[:5000]
    again = re.compile(r"database available again after \d+\.\d s, \d+ requests refused$")
    for pid, lines in per_process.items():
        down_lines = [line for line in lines if "database unavailable: " in line]
        up_lines = [line for line in lines if again.search(line)]
        assert len(down_lines) <= 1 and len(up_lines) <= 1, f"pid {pid}:\n" + "\n".join(lines)
        assert len(lines) == len(down_lines) + len(up_lines), f"pid {pid}:\n" + "\n".join(lines)
    assert again.search(log), log
