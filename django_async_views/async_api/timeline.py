"""Timelines drawn on the server as inline SVG: bars on one shared time axis, one lane per request or per thread.

The pages of listings 9.12 and 9.14 show when each request or blocking call ran, so a reader sees the overlap
(many waits at once) instead of working it out from a table. This module only computes the geometry; the
template async_api/timeline.html writes it out as SVG elements, with no script and nothing fetched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH = 760  # SVG user units; the page scales the drawing down to fit a narrow window
PLOT_LEFT = 64  # left of this: the lane labels
PLOT_RIGHT = WIDTH - 28  # right of this: room for a failure's mark after a bar that reaches the end
AXIS_HEIGHT = 34  # the axis title and the tick labels above the lanes
CAPTION_HEIGHT = 16  # a line of text above a lane's bars
LEGEND_HEIGHT = 26
FONT_WIDTH = 6.6  # average width of a 11 px sans-serif character, to decide whether a text fits


@dataclass(frozen=True)
class Bar:
    """One interval: a request from sent to answered, a blocking call, or a whole batch."""

    start_ms: float
    end_ms: float
    kind: str  # "request", "call", "wall" or "serial": the CSS class that draws it
    failed: bool = False  # drawn hatched, with a cross after it: readable without colour
    text: str = ""  # written inside the bar when it fits
    title: str = ""  # the tooltip, with the exact numbers


@dataclass(frozen=True)
class Lane:
    label: str  # left of the plot; empty for none
    bars: list[Bar]
    height: int = 18
    caption: str = ""  # a line above the bars
    gap_before: int = 0


@dataclass(frozen=True)
class Placed:
    """A bar and where it is drawn."""

    bar: Bar
    lane: int
    x: float
    y: float
    width: float
    height: float

    @property
    def middle_y(self) -> float:
        return self.y + self.height / 2

    @property
    def text_x(self) -> float:
        return self.x + self.width / 2

    @property
    def mark_x(self) -> float:
        return self.x + self.width + 3

    @property
    def mark_size(self) -> float:
        return min(12.0, self.height + 4)

    @property
    def shows_text(self) -> bool:
        return bool(self.bar.text) and self.height >= 11 and self.width >= len(self.bar.text) * FONT_WIDTH + 6


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Swatch:
    x: float
    y: float
    kind: str
    failed: bool
    text: Text


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    title: str  # read out by screen readers; the page says the same in words
    axis_end_ms: float
    ticks: list[Tick]
    grid_top: float
    grid_bottom: float
    bars: list[Placed]
    texts: list[Text]
    legend: list[Swatch] = field(default_factory=list)

    @property
    def tick_y(self) -> float:
        return self.grid_top - 6


def tick_step(span_ms: float, most: int = 6) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving at most `most` intervals."""
    raw = span_ms / most
    power = 10 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 2.5, 5, 10) if factor * power >= raw)


def tick_label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"


def draw(lanes: list[Lane], *, title: str, axis_title: str, legend: list[tuple[str, bool, str]]) -> Drawing:
    """Lay the lanes out top to bottom under one time axis from 0 to the latest bar's end."""
    # The axis ends at the latest bar (at least 1 ms), so the longest bar spans the whole plot.
    axis_end = max([1.0, *(bar.end_ms for lane in lanes for bar in lane.bars)])
    step = tick_step(axis_end)
    scale = (PLOT_RIGHT - PLOT_LEFT) / axis_end

    def x_of(ms: float) -> float:
        return round(PLOT_LEFT + max(ms, 0.0) * scale, 2)

    ticks = [Tick(x_of(n * step), tick_label(n * step)) for n in range(math.floor(axis_end / step + 1e-9) + 1)]
    texts = [Text(PLOT_LEFT, 12, axis_title)]
    placed: list[Placed] = []
    y = AXIS_HEIGHT + 4.0
    for number, lane in enumerate(lanes):
        y += lane.gap_before
        if lane.caption:
            texts.append(Text(PLOT_LEFT, y + 11, lane.caption))
            y += CAPTION_HEIGHT
        if lane.label:
            texts.append(Text(PLOT_LEFT - 8, y + lane.height / 2, lane.label, anchor="end"))
        bar_height = max(3, round(lane.height * 0.75))
        for bar in lane.bars:
            # A bar is at least 2 units wide: a refused connection fails within a millisecond.
            width = max(2.0, x_of(bar.end_ms) - x_of(bar.start_ms))
            bar_y = y + (lane.height - bar_height) / 2
            placed.append(Placed(bar, number, x_of(bar.start_ms), bar_y, round(width, 2), bar_height))
        y += lane.height
    grid_bottom = y + 2
    swatches = []
    x = float(PLOT_LEFT)
    for kind, failed, text in legend:
        swatches.append(Swatch(x, grid_bottom + 10, kind, failed, Text(x + 22, grid_bottom + 17, text)))
        x += 22 + len(text) * FONT_WIDTH + 18
    height = grid_bottom + (LEGEND_HEIGHT if legend else 6)
    return Drawing(
        width=WIDTH,
        height=math.ceil(height),
        title=title,
        axis_end_ms=axis_end,
        ticks=ticks,
        grid_top=AXIS_HEIGHT,
        grid_bottom=grid_bottom,
        bars=placed,
        texts=texts,
        legend=swatches,
    )


def label_every(count: int, lane_height: int) -> int:
    """Label every n-th lane, n a round number, so labels at least 12 units apart never overlap."""
    return next(n for n in (1, 2, 5, 10, 20, 50, 100) if n * lane_height >= 12 or n >= count)
