"""Small inline SVG charts for the report: they need no script and print as they show."""

from __future__ import annotations

import html
from datetime import datetime


def _size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def size_chart(
    title: str,
    points: list[tuple[datetime, int]],
    threshold: float | None = None,
    width: int = 560,
    height: int = 200,
) -> str:
    """Backup sizes over time with labelled axes (units that fit the sizes) and, when given, the
    size below which the newest backup fails (`max_size_drop` x the median)."""
    if len(points) < 2:
        return ""
    left, right, top_pad, bottom = 70, 20, 28, 34
    times = [t.timestamp() for t, _ in points]
    sizes = [s for _, s in points]
    t0, span = min(times), (max(times) - min(times)) or 1
    top = max([*sizes, threshold or 0]) * 1.1 or 1

    def x(t: float) -> float:
        return left + (t - t0) / span * (width - left - right)

    def y(s: float) -> float:
        return height - bottom - s / top * (height - top_pad - bottom)

    line = " ".join(f"{x(t):.1f},{y(s):.1f}" for t, s in zip(times, sizes, strict=True))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" class="chart">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="12">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{left}" y2="{top_pad}" stroke="#999"/>',
    ]
    for fraction in (0, 0.5, 1):
        value = top / 1.1 * fraction
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end">{_size(value)}</text>'
        )
    if threshold:
        parts.append(
            f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
            'stroke="#b3261e" stroke-dasharray="4 3"/>'
            f'<text x="{width - right}" y="{y(threshold) - 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#b3261e">fails below {_size(threshold)}</text>'
        )
    parts += [
        f'<polyline fill="none" stroke="#2a6fdb" stroke-width="2" points="{line}"/>',
        f'<circle cx="{x(times[-1]):.1f}" cy="{y(sizes[-1]):.1f}" r="3" fill="#2a6fdb"/>',
        f'<text x="{left}" y="{height - 12}" font-size="11">{points[0][0]:%Y-%m-%d}</text>',
        f'<text x="{width - right}" y="{height - 12}" font-size="11" text-anchor="end">{points[-1][0]:%Y-%m-%d}</text>',
        "</svg>",
    ]
    return "".join(parts)


def days_chart(rows: list[tuple[str, float]], warn_days: int, fail_days: int, width: int = 560) -> str:
    """Days left per certificate as bars, against tls.warn_days and tls.fail_days."""
    if not rows:
        return ""
    left, right, bar, gap = 120, 20, 16, 8
    height = 30 + len(rows) * (bar + gap)
    top = max([*(days for _, days in rows), warn_days]) * 1.1 or 1

    def x(days: float) -> float:
        return left + max(days, 0) / top * (width - left - right)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" class="chart">',
        "<title>days left per certificate</title>",
    ]
    for label, days, colour in (("fail", fail_days, "#b3261e"), ("warn", warn_days, "#8a6d00")):
        parts.append(
            f'<line x1="{x(days):.1f}" y1="10" x2="{x(days):.1f}" y2="{height - 4}" stroke="{colour}" stroke-dasharray="4 3"/>'
            f'<text x="{x(days) + 3:.1f}" y="12" font-size="10" fill="{colour}">{label} {days} d</text>'
        )
    for i, (name, days) in enumerate(rows):
        top_y = 20 + i * (bar + gap)
        colour = "#b3261e" if days < fail_days else "#8a6d00" if days < warn_days else "#2e8b57"
        parts.append(
            f'<text x="{left - 6}" y="{top_y + 12}" font-size="11" text-anchor="end">{html.escape(name)}</text>'
            f'<rect x="{left}" y="{top_y}" width="{x(days) - left:.1f}" height="{bar}" fill="{colour}"/>'
            f'<text x="{x(days) + 4:.1f}" y="{top_y + 12}" font-size="11">{days:.0f} d</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
