"""Small inline SVG charts, drawn on the server (no script, readable by screen readers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Histogram", "histogram", "histogram_svg"]


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


def histogram_svg(column: str, data: Histogram, width: int = 320, height: int = 90) -> str:
    """An SVG bar chart of ``data`` with a text alternative naming the range and count."""
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
    label = escape(
        f"Histogram of {column}: {data.total} values from {_number(data.low)} "
        f"to {_number(data.high)}"
    )
    return (
        f'<svg class="histogram" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>{''.join(bars)}"
        f'<text x="0" y="{height - 4}">{escape(_number(data.low))}</text>'
        f'<text x="{width}" y="{height - 4}" text-anchor="end">{escape(_number(data.high))}</text>'
        "</svg>"
    )
