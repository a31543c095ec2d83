"""Small inline SVG charts, drawn on the server (no script, readable by screen readers)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

__all__ = ["Histogram", "Series", "histogram", "histogram_svg", "line_chart_svg"]

# Distinguishable for the common colour vision deficiencies (Okabe-Ito); lines also differ in dash.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
DASHES = ("", "6 3", "2 2", "8 3 2 3")


@dataclass(frozen=True)
class Histogram:
    """Counts of values in equal-width bins between ``low`` and ``high``."""

    low: float
    high: float
    counts: list[int]

    @property
    def total(self) -> int:
        """Values counted."""
        return sum(self.counts)


def histogram(values: Sequence[float], bins: int = 20) -> Histogram | None:
    """The histogram of the finite ``values``; ``None`` when there are none."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    if high == low:
        return Histogram(low, high, [len(finite)])
    counts = [0] * bins
    width = (high - low) / bins
    for value in finite:
        # The maximum belongs to the last bin rather than one past it.
        counts[min(int((value - low) / width), bins - 1)] += 1
    return Histogram(low, high, counts)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e12:
        return f"{int(value):,}"
    return f"{value:,.4g}"


def histogram_svg(
    column: str,
    data: Histogram,
    width: int = 320,
    height: int = 90,
    described_by: str | None = None,
) -> str:
    """An SVG bar chart of ``data`` with a text alternative naming the range and count.

    ``described_by`` is the id of the text that says where the values come from (a sample).
    """
    peak = max(data.counts) or 1
    plot_height = height - 18
    bar_width = width / len(data.counts)
    bars = []
    for index, count in enumerate(data.counts):
        bar_height = plot_height * count / peak
        x = index * bar_width
        bars.append(
            f'<rect x="{x:.1f}" y="{plot_height - bar_height:.1f}" '
            f'width="{max(bar_width - 1, 1):.1f}" height="{bar_height:.1f}">'
            f"<title>{count} value(s)</title></rect>"
        )
    description = f' aria-describedby="{escape(described_by)}"' if described_by else ""
    label = escape(
        f"Histogram of {column}: {data.total} values from {_number(data.low)} "
        f"to {_number(data.high)}"
    )
    return (
        f'<svg class="histogram" role="img" aria-label="{label}"{description} '
        f'viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>{''.join(bars)}"
        f'<text x="0" y="{height - 4}">{escape(_number(data.low))}</text>'
        f'<text x="{width}" y="{height - 4}" text-anchor="end">{escape(_number(data.high))}</text>'
        "</svg>"
    )


@dataclass(frozen=True)
class Series:
    """One line of a chart: ``(seconds since the epoch, value)`` points, oldest first."""

    label: str
    points: list[tuple[float, float]]


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def _scale(
    low: float, high: float, size: float, *, invert: bool = False
) -> Callable[[float], float]:
    span = (high - low) or 1.0

    def position(value: float) -> float:
        share = (value - low) / span
        return size * (1 - share) if invert else size * share

    return position


def _summary(title: str, series: Sequence[Series], unit: str) -> str:
    lines = [
        f"{line.label}: latest {_number(line.points[-1][1])}{unit}, "
        f"from {_number(min(y for _, y in line.points))} to "
        f"{_number(max(y for _, y in line.points))}{unit} over {len(line.points)} point(s)"
        for line in series
        if line.points
    ]
    return f"{title}. " + ("; ".join(lines) if lines else "no data")


def line_chart_svg(
    title: str, series: Sequence[Series], unit: str = "", width: int = 560, height: int = 170
) -> str:
    """An SVG line chart of ``series`` over time, its y axis from zero (or below, if negative).

    The text alternative names each line's latest value and range, which is what a reader of the
    chart looks for; a single point is drawn as a dot.
    """
    drawn = [line for line in series if line.points]
    xs = [x for line in drawn for x, _ in line.points] or [0.0]
    ys = [y for line in drawn for _, y in line.points] or [0.0]
    left, bottom, legend = 52, 18, 16 * math.ceil(len(drawn) / 3)
    plot_width, plot_height = width - left - 8, height - bottom - legend - 8
    to_x = _scale(min(xs), max(xs), plot_width)
    # A flat line at zero still gets an axis with a top (1), so that it reads as zero.
    top = max(ys) if max(ys) > min(0.0, min(ys)) else min(0.0, min(ys)) + 1.0
    to_y = _scale(min(0.0, min(ys)), top, plot_height, invert=True)
    parts = [
        f'<line class="axis" x1="{left}" y1="8" x2="{left}" y2="{8 + plot_height}"/>',
        f'<line class="axis" x1="{left}" y1="{8 + plot_height}" x2="{width - 8}" '
        f'y2="{8 + plot_height}"/>',
        f'<text x="{left - 4}" y="16" text-anchor="end">{escape(_number(top))}</text>',
        f'<text x="{left - 4}" y="{8 + plot_height}" text-anchor="end">'
        f"{escape(_number(min(0.0, min(ys))))}</text>",
        f'<text x="{left}" y="{20 + plot_height}">{_clock(min(xs))}</text>',
        f'<text x="{width - 8}" y="{20 + plot_height}" text-anchor="end">{_clock(max(xs))}</text>',
    ]
    for index, line in enumerate(drawn):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        points = [(left + to_x(x), 8 + to_y(y)) for x, y in line.points]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f"><title>{escape(line.label)}</title></polyline>"
        )
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points
        )
        row, column = divmod(index, 3)
        key_x, key_y = left + column * (plot_width / 3), height - legend + 12 + row * 16
        parts.append(
            f'<rect x="{key_x:.1f}" y="{key_y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{key_x + 14:.1f}" y="{key_y}">{escape(line.label)}</text>'
        )
    label = escape(_summary(title, drawn, unit))
    return (
        f'<svg class="line-chart" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>{''.join(parts)}</svg>"
    )
