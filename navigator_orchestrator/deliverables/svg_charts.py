"""Charts drawn as inline SVG by the page itself (no script, no library, nothing fetched): a line chart (with an
optional band per series, for percentiles) and a grouped bar chart, each with a title, labelled axes with units,
tick labels and a legend.

Each series is one `<g data-series="NAME">` and each axis label a `<text data-axis="x|y">`, so a reader (or a
test) can tell what is drawn; every point and bar carries a `<title>` with its value (a tooltip in a browser).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .page import escape

PALETTE = ("#1f6fb2", "#c2410c", "#2f855a", "#7e3fb0", "#b7791f", "#0e7490", "#be185d", "#4a5568")
DASHES = ("", "7 4", "2 3", "9 3 2 3")
WIDTH, PLOT_HEIGHT = 560, 230
LEFT, RIGHT, TOP = 84, 18, 36
INSET = 28  # first and last year of a line chart stand this far inside the axes
LEGEND_ROW = 18


@dataclass(frozen=True)
class Series:
    """One named series: its values (None where it has none), and optionally a band (low..high) behind them."""

    name: str
    values: Sequence[float | None]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None
    color: str | None = None


def line_chart(chart: str, title: str, x_label: str, y_label: str, xs: Sequence, series: list[Series],
               tick: Callable[[float], str] | None = None) -> str:
    """Lines over `xs` (years, say), each with its band when it has one."""
    frame = _Frame(title, x_label, y_label, [str(x) for x in xs], series, tick, bars=False)
    step = (frame.plot_width - 2 * INSET) / max(len(xs) - 1, 1)
    x_at = [LEFT + (INSET + i * step if len(xs) > 1 else frame.plot_width / 2) for i in range(len(xs))]
    parts = []
    for index, one in enumerate(series):
        color = one.color or PALETTE[index % len(PALETTE)]
        shapes = []
        if one.low is not None and one.high is not None:
            shapes.append(_band(x_at, one.low, one.high, frame.y, color))
        points = [(x, frame.y(v), xs[i], v) for i, (x, v) in enumerate(zip(x_at, one.values)) if v is not None]
        if points:
            path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y, _, _) in enumerate(points))
            dash = DASHES[index % len(DASHES)]
            shapes.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{max(3.5 - index, 1.6)}"'
                          + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            shapes += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{color}"><title>{escape(one.name)}, '
                       f"{escape(label)}: {escape(frame.tick(v))}</title></circle>" for x, y, label, v in points]
        parts.append(f'<g class="series" data-series="{escape(one.name)}">{"".join(shapes)}</g>')
    return frame.svg(chart, x_at, parts)


def bar_chart(chart: str, title: str, x_label: str, y_label: str, categories: Sequence[str], series: list[Series],
              tick: Callable[[float], str] | None = None) -> str:
    """Bars grouped by category, one bar per series in each group, from zero."""
    frame = _Frame(title, x_label, y_label, list(categories), series, tick, bars=True)
    group = frame.plot_width / max(len(categories), 1)
    width = group * 0.8 / max(len(series), 1)
    x_at = [LEFT + group * (i + 0.5) for i in range(len(categories))]
    zero = frame.y(0)
    parts = []
    for index, one in enumerate(series):
        color = one.color or PALETTE[index % len(PALETTE)]
        rects = []
        for i, value in enumerate(one.values):
            if value is None:
                continue
            left = LEFT + group * (i + 0.1) + width * index
            top, bottom = sorted((frame.y(value), zero))
            rects.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(bottom - top, 0.5):.1f}"'
                         f' fill="{color}"><title>{escape(one.name)}, {escape(categories[i])}: '
                         f"{escape(frame.tick(value))}</title></rect>")
        parts.append(f'<g class="series" data-series="{escape(one.name)}">{"".join(rects)}</g>')
    return frame.svg(chart, x_at, parts)


class _Frame:
    """The chart's scale, axes, title and legend; the series are drawn by the chart functions."""

    def __init__(self, title: str, x_label: str, y_label: str, x_ticks: list[str], series: list[Series],
                 tick: Callable[[float], str] | None, bars: bool):
        self.title, self.x_label, self.y_label, self.x_ticks, self.series = title, x_label, y_label, x_ticks, series
        self.plot_width = WIDTH - LEFT - RIGHT
        values = [v for s in series for seq in (s.values, s.low or (), s.high or ()) for v in seq if v is not None]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if bars:
            low, high = min(low, 0.0), max(high, 0.0)
        if low == high:
            pad = abs(low) * 0.05 or 1.0
            low, high = low - pad, high + pad
        self.ticks = nice_ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        step = self.ticks[1] - self.ticks[0]
        decimals = max(0, -math.floor(math.log10(step)))
        self.tick = tick or (lambda v: f"{v:,.{decimals}f}")
        self.legend_rows = _legend_rows([s.name for s in series])
        self.rotate = len(x_ticks) > 8  # many categories: their labels slanted, below them more room
        self.below = 40 + (max(map(len, x_ticks), default=0) * 4 if self.rotate else 0)
        self.height = TOP + PLOT_HEIGHT + self.below + 12 + LEGEND_ROW * len(self.legend_rows)

    def y(self, value: float) -> float:
        return TOP + PLOT_HEIGHT * (self.high - value) / (self.high - self.low)

    def svg(self, chart: str, x_at: list[float], series_parts: list[str]) -> str:
        bottom = TOP + PLOT_HEIGHT
        grid = []
        for value in self.ticks:
            y = self.y(value)
            stroke = "#52606d" if value == 0 and self.low < 0 else "#e4e7eb"
            grid.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{stroke}"/>'
                        f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(self.tick(value))}</text>')
        for x, text in zip(x_at, self.x_ticks):
            anchor = (f'text-anchor="end" transform="rotate(-35 {x:.1f} {bottom + 16})"' if self.rotate
                      else 'text-anchor="middle"')
            grid.append(f'<text x="{x:.1f}" y="{bottom + 16}" {anchor}>{escape(text)}</text>')
        axes = (f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="#52606d"/>'
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}" stroke="#52606d"/>'
                f'<text class="axis-label" data-axis="x" x="{LEFT + self.plot_width / 2:.1f}" '
                f'y="{bottom + self.below}" '
                f'text-anchor="middle">{escape(self.x_label)}</text>'
                f'<text class="axis-label" data-axis="y" transform="rotate(-90)" x="{-(TOP + PLOT_HEIGHT / 2):.1f}" '
                f'y="16" text-anchor="middle">{escape(self.y_label)}</text>')
        return (f'<figure data-chart="{escape(chart)}"><svg xmlns="http://www.w3.org/2000/svg" role="img" '
                f'viewBox="0 0 {WIDTH} {self.height}" width="{WIDTH}" height="{self.height}">'
                f"<title>{escape(self.title)}</title>"
                f'<text class="chart-title" x="{LEFT}" y="20" font-weight="600">{escape(self.title)}</text>'
                f'{"".join(grid)}{"".join(series_parts)}{axes}{self._legend(bottom + self.below + 20)}</svg></figure>')

    def _legend(self, top: float) -> str:
        items = []
        index = 0
        for row, names in enumerate(self.legend_rows):
            x = LEFT
            for name in names:
                color = self.series[index].color or PALETTE[index % len(PALETTE)]
                y = top + row * LEGEND_ROW
                items.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{color}"/>'
                             f'<text x="{x + 16}" y="{y}">{escape(name)}</text>')
                x += _text_width(name) + 34
                index += 1
        return f'<g class="legend">{"".join(items)}</g>'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering low..high."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _text_width(text: str) -> float:
    return len(text) * 6.2  # 11 px system sans: about 6 px a character


def _legend_rows(names: list[str]) -> list[list[str]]:
    rows: list[list[str]] = [[]]
    used = 0.0
    for name in names:
        width = _text_width(name) + 34
        if rows[-1] and used + width > WIDTH - LEFT - RIGHT:
            rows.append([])
            used = 0.0
        rows[-1].append(name)
        used += width
    return rows


def _band(x_at: list[float], low: Sequence, high: Sequence, y: Callable[[float], float], color: str) -> str:
    """The area between low and high (where both are known), behind the line."""
    known = [(x, lo, hi) for x, lo, hi in zip(x_at, low, high) if lo is not None and hi is not None]
    if not known:
        return ""
    if len(known) == 1:  # one year: a vertical bar from low to high
        x, lo, hi = known[0]
        return f'<rect class="band" x="{x - 4:.1f}" y="{y(hi):.1f}" width="8" height="{max(y(lo) - y(hi), 0.5):.1f}" ' \
               f'fill="{color}" fill-opacity="0.22"/>'
    upper = [f"{x:.1f},{y(hi):.1f}" for x, _, hi in known]
    lower = [f"{x:.1f},{y(lo):.1f}" for x, lo, _ in reversed(known)]
    return f'<path class="band" d="M{" L".join(upper + lower)} Z" fill="{color}" fill-opacity="0.22" stroke="none"/>'
