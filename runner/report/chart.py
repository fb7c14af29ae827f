"""A small inline SVG line chart of backup sizes over time, for the HTML report."""

from __future__ import annotations

import html
from datetime import datetime


def size_chart(title: str, points: list[tuple[datetime, int]], width: int = 480, height: int = 160) -> str:
    if len(points) < 2:
        return ""
    pad = 36
    times = [t.timestamp() for t, _ in points]
    sizes = [s for _, s in points]
    t0, t1 = min(times), max(times) or 1
    top = max(sizes) or 1
    span = (t1 - t0) or 1

    def xy(t: float, s: int) -> str:
        x = pad + (t - t0) / span * (width - 2 * pad)
        y = height - pad - s / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, s) for t, s in zip(times, sizes, strict=True))
    last = xy(times[-1], sizes[-1])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f"<title>{html.escape(title)}</title>"
        f'<text x="{pad}" y="16" font-size="12">{html.escape(title)} (max {top / 1e6:.1f} MB)</text>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
        f'<polyline fill="none" stroke="#2a6fdb" stroke-width="2" points="{line}"/>'
        f'<circle cx="{last.split(",")[0]}" cy="{last.split(",")[1]}" r="3" fill="#b3261e"/>'
        f'<text x="{pad}" y="{height - 12}" font-size="11">{points[0][0]:%Y-%m-%d}</text>'
        f'<text x="{width - pad}" y="{height - 12}" font-size="11" text-anchor="end">{points[-1][0]:%Y-%m-%d}</text>'
        "</svg>"
    )
