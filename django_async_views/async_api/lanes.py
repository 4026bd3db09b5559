"""What the two timeline pages draw: a lane per request of a batch (9.12), a lane per thread of the sleeps (9.14)."""

from __future__ import annotations

from collections.abc import Sequence

from .requests_batch import Batch, Failure, Success
from .timeline import Bar, Drawing, Lane, draw, label_every


def batch_timeline(batch: Batch) -> Drawing:
    """Each request from sent to answered, in the order sent; below, the whole batch against the serial sum."""
    results: list[Success | Failure] = sorted([*batch.successes, *batch.failures], key=lambda r: r.sent_ms)
    count = len(results)
    height = max(5, min(18, 400 // max(1, count)))  # a hundred requests still fit on one screen
    every = label_every(count, height)
    lanes = [
        Lane(str(number) if number == 1 or number % every == 0 else "", [request_bar(number, result)], height)
        for number, result in enumerate(results, 1)
    ]
    serial = f"the same {count} requests one after another (the sum of their times): {batch.serial_ms:,.1f} ms"
    lanes += [
        Lane("", [Bar(0, batch.wall_ms, "wall")], 16, f"the whole batch: {batch.wall_ms:,.1f} ms", gap_before=10),
        Lane("", [Bar(0, batch.serial_ms, "serial")], 16, serial),
    ]
    return draw(
        lanes,
        title=f"{count} requests on one time axis, and the same requests one after another",
        axis_title="request no. / ms since the batch started",
        legend=[("request", False, "a request, from sent to answered"), ("request", True, "✕ failed")],
    )


def request_bar(number: int, result: Success | Failure) -> Bar:
    if isinstance(result, Failure):
        outcome = f"gave up at {result.answered_ms:,.1f} ms: {result.reason}"
    else:
        outcome = f"answered at {result.answered_ms:,.1f} ms, status {result.status}"
    title = f"request {number}: sent at {result.sent_ms:,.1f} ms, {outcome}"
    return Bar(result.sent_ms, result.answered_ms, "request", isinstance(result, Failure), title=title)


def threads_timeline(calls: Sequence[dict], elapsed_ms: float) -> Drawing:
    """Each blocking call a bar in its thread's lane, numbered in the order the calls started."""
    ordered = sorted(calls, key=lambda call: call["started_ms"])
    threads = list(dict.fromkeys(call["thread_id"] for call in ordered))  # in the order each thread first ran
    lanes = []
    for lane_number, thread_id in enumerate(threads, 1):
        mine = [(number, call) for number, call in enumerate(ordered, 1) if call["thread_id"] == thread_id]
        bars = [call_bar(number, call) for number, call in mine]
        caption = f"{mine[0][1]['thread']}: {len(mine)} call{'' if len(mine) == 1 else 's'}"
        lanes.append(Lane(f"thread {lane_number}", bars, 20, caption))
    serial_ms = sum(call["finished_ms"] - call["started_ms"] for call in calls)
    lanes += [
        Lane("", [Bar(0, elapsed_ms, "wall")], 16, f"the whole view: {elapsed_ms:,.1f} ms", gap_before=10),
        Lane("", [Bar(0, serial_ms, "serial")], 16, f"the calls one after another (the sum): {serial_ms:,.1f} ms"),
    ]
    return draw(
        lanes,
        title=f"{len(calls)} blocking calls on {len(threads)} thread(s), one lane per thread",
        axis_title="ms since the view started",
        legend=[("call", False, "a blocking call, numbered in the order the calls started")],
    )


def call_bar(number: int, call: dict) -> Bar:
    title = f"call {number} on {call['thread']}: from {call['started_ms']:,.1f} to {call['finished_ms']:,.1f} ms"
    return Bar(call["started_ms"], call["finished_ms"], "call", text=str(number), title=title)
