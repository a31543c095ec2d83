"""An SVG chart of one metric across a model's runs (hand-written SVG, no plotting library)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 70


@dataclass(frozen=True)
class Point:
    """One run's value of the metric."""

    label: str
    value: float
    best: bool = False


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= high + step / 2]


def _format(value: float) -> str:
    return f"{value:.4g}"


def metric_chart(metric: str, points: list[Point], *, title: str) -> str:
    """Bars of ``metric`` per run (oldest left), the best one highlighted."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    if not points:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            f"no run has a value for {escape(metric)} yet</text>"
        )
        parts.append("</svg>")
        return "\n".join(parts)
    values = [p.value for p in points]
    low = min(0.0, min(values))
    high = max(values) if max(values) > low else low + 1.0
    ticks = _ticks(low, high)
    high = max(high, ticks[-1])

    def y_of(value: float) -> float:
        return TOP + plot_h - (value - low) / (high - low) * plot_h

    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_format(tick)}</text>'
        )
    slot = plot_w / len(points)
    bar = max(2.0, slot * 0.7)
    for index, point in enumerate(points):
        x = LEFT + index * slot + (slot - bar) / 2
        top, base = y_of(max(point.value, low)), y_of(max(low, 0.0))
        colour = "#d95f02" if point.best else "#1b9e77"
        parts.append(
            f'<rect x="{x:.1f}" y="{min(top, base):.1f}" width="{bar:.1f}" '
            f'height="{abs(base - top):.1f}" fill="{colour}">'
            f"<title>{escape(point.label)}: {escape(metric)} = "
            f"{_format(point.value)}</title></rect>"
        )
        cx = x + bar / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="end" '
            f'transform="rotate(-35 {cx:.1f} {HEIGHT - BOTTOM + 14})">{escape(point.label)}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#333"/>'
    )
    parts.append(
        f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2})">{escape(metric)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)
