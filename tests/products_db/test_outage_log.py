"""The outage's two log lines, in-process: one when the database goes away, one when it is back, nothing between."""

from __future__ import annotations

import logging

import pytest

from products_db import outage
from products_db.outage import SETTLING, Outage

CUT = ConnectionResetError("server closed the connection unexpectedly")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(outage.time, "monotonic", clock)
    return clock


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "products_db.outage"]


def test_one_line_down_one_line_up_and_the_refusals_counted(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    state = Outage()
    started_in = state.outages
    state.refused(CUT)
    for _ in range(4):
        state.refused(CUT)
    clock.now += 2.5
    state.succeeded(state.outages)
    assert lines(caplog) == [
        "database unavailable: server closed the connection unexpectedly",
        "database available again after 2.5 s, 5 requests refused",
    ]
    assert not state.down and state.outages == started_in + 1


def test_a_query_from_before_the_outage_does_not_end_it(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    state = Outage()
    in_flight = state.outages  # it started while the database was up
    state.refused(CUT)
    clock.now += 2 * SETTLING
    state.succeeded(in_flight)
    assert state.down and len(lines(caplog)) == 1


def test_a_backend_still_answering_while_postgres_stops_does_not_end_it(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Failure, a success a few milliseconds later, failure again: one outage, two lines in all."""
    caplog.set_level(logging.WARNING)
    state = Outage()
    state.refused(CUT)
    clock.now += 0.007  # a backend that has not exited yet answers
    state.succeeded(state.outages)
    clock.now += 0.002
    state.refused(CUT)
    assert state.down and len(lines(caplog)) == 1
    clock.now += SETTLING
    state.succeeded(state.outages)
    assert lines(caplog)[1] == "database available again after 1.0 s, 2 requests refused"


def test_a_success_exactly_settling_after_the_failure_ends_it(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    state = Outage()
    state.refused(CUT)
    clock.now += SETTLING
    state.succeeded(state.outages)
    assert not state.down
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "products_db.outage"] == [
        ("ERROR", "database unavailable: server closed the connection unexpectedly"),
        ("WARNING", "database available again after 1.0 s, 1 requests refused"),
    ]


def test_a_failure_no_request_saw_counts_no_refusal(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    """A pool's own reconnect failing (outage.PoolFailures) starts the outage, but refused no request."""
    caplog.set_level(logging.WARNING)
    state = Outage()
    state.failed(CUT)
    state.failed(CUT)
    state.refused(CUT)
    clock.now += SETTLING
    state.succeeded(state.outages)
    assert lines(caplog)[-1] == "database available again after 1.0 s, 1 requests refused"
