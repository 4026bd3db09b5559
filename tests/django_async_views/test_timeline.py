"""The timeline geometry (async_api/timeline.py) without a server: bars on one axis, lanes top to bottom."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from devenv import servers

# The timeline drawn above the tables of listing 9.12's page.
pytestmark = pytest.mark.listing("9.12")


@pytest.fixture(scope="module")
def timeline() -> ModuleType:
    """async_api.timeline by file: the Django project is not on our path (the module needs no Django)."""
    path = servers.REPO_ROOT / "django_async_views" / "async_api" / "timeline.py"
    spec = importlib.util.spec_from_file_location("django_timeline_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("span_ms", "step"), [(1, 0.2), (7, 2), (59, 10), (1059, 200), (7083, 2000), (12_000, 2000), (1e6, 2e5)]
)
def test_ticks_are_round_and_at_most_six_intervals(timeline: ModuleType, span_ms: float, step: float) -> None:
    assert timeline.tick_step(span_ms) == pytest.approx(step)
    assert span_ms / step <= 6


def test_bars_share_one_axis_from_zero_to_the_latest_end(timeline: ModuleType) -> None:
    Bar, Lane = timeline.Bar, timeline.Lane
    lanes = [
        Lane("1", [Bar(0, 100, "request")]),
        Lane("2", [Bar(50, 150, "request", failed=True)]),
        Lane("", [Bar(0, 400, "serial")], caption="one after another"),
    ]
    drawing = timeline.draw(lanes, title="t", axis_title="ms", legend=[("request", True, "failed")])
    first, second, serial = drawing.bars
    assert first.x == timeline.PLOT_LEFT
    assert serial.x + serial.width == pytest.approx(timeline.PLOT_RIGHT)
    assert serial.width == pytest.approx(4 * first.width)  # 400 ms against 100 ms on one scale
    assert second.x == pytest.approx(first.x + first.width / 2)
    assert first.y < second.y < serial.y  # lanes top to bottom, in order
    assert [bar.lane for bar in drawing.bars] == [0, 1, 2]
    assert [tick.label for tick in drawing.ticks] == ["0", "100", "200", "300", "400"]
    assert {text.text for text in drawing.texts} >= {"1", "2", "one after another", "ms"}
    assert drawing.height > serial.y + serial.height


def test_a_bar_of_no_time_is_still_visible(timeline: ModuleType) -> None:
    # A refused connection fails within a millisecond; its bar must still show.
    drawing = timeline.draw(
        [
            timeline.Lane("1", [timeline.Bar(3, 3, "request", failed=True)]),
            timeline.Lane("", [timeline.Bar(0, 900, "wall")]),
        ],
        title="t",
        axis_title="ms",
        legend=[],
    )
    assert drawing.bars[0].width >= 2


@pytest.mark.parametrize(("count", "height", "every"), [(10, 18, 1), (20, 18, 1), (50, 8, 2), (100, 5, 5), (3, 5, 5)])
def test_lane_labels_thin_out_so_they_never_overlap(timeline: ModuleType, count: int, height: int, every: int) -> None:
    assert timeline.label_every(count, height) == every
