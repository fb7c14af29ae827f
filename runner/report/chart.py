"""Small inline SVG charts for the report: they need no script and print as they show."""

from __future__ import annotations

import html
from datetime import datetime


def _size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def _svg(title: str, width: int, height: int) -> str:
    """An SVG that keeps its drawn size on a wide screen and shrinks with a narrow one."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="max-width:100%;height:auto" role="img" class="chart">'
        f"<title>{html.escape(title)}</title>"
    )


def size_chart(
    title: str,
    points: list[tuple[datetime, int]],
    threshold: float | None = None,
    now: datetime | None = None,
    width: int = 480,
    height: int = 210,
) -> str:
    """Backup sizes over time with labelled axes (units that fit the sizes) and, when given, the
    size below which the newest backup fails (`max_size_drop` x the median). The time axis runs
    to `now` (the run's time), so days without a backup show as an empty stretch."""
    if len(points) < 2:
        return ""
    left, right, top_pad, bottom = 64, 16, 28, 40
    times = [t.timestamp() for t, _ in points]
    sizes = [s for _, s in points]
    end = max(times[-1], now.timestamp() if now else times[-1])
    t0, span = min(times), (end - min(times)) or 1
    top = max([*sizes, threshold or 0]) * 1.1 or 1

    def x(t: float) -> float:
        return left + (t - t0) / span * (width - left - right)

    def y(s: float) -> float:
        return height - bottom - s / top * (height - top_pad - bottom)

    line = " ".join(f"{x(t):.1f},{y(s):.1f}" for t, s in zip(times, sizes, strict=True))
    axis_y = y(0)
    parts = [
        _svg(title, width, height),
        f'<text x="{left}" y="16" font-size="13">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{axis_y:.1f}" x2="{width - right}" y2="{axis_y:.1f}" stroke="#999"/>',
        f'<line x1="{left}" y1="{axis_y:.1f}" x2="{left}" y2="{top_pad}" stroke="#999"/>',
    ]
    for fraction in (0, 0.5, 1):
        value = top / 1.1 * fraction
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="12" text-anchor="end">{_size(value)}</text>'
        )
    if threshold:
        parts.append(
            f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
            'stroke="#b3261e" stroke-dasharray="4 3"/>'
            f'<text x="{width - right}" y="{y(threshold) - 4:.1f}" font-size="12" text-anchor="end" '
            f'fill="#b3261e">fails below {_size(threshold)}</text>'
        )
    last_x = x(times[-1])
    if now and now.timestamp() > times[-1]:
        gap_days = (now.timestamp() - times[-1]) / 86400
        parts.append(
            f'<rect x="{last_x:.1f}" y="{top_pad}" width="{width - right - last_x:.1f}" '
            f'height="{axis_y - top_pad:.1f}" fill="#b3261e" fill-opacity="0.07"/>'
            f'<line x1="{width - right}" y1="{top_pad}" x2="{width - right}" y2="{axis_y:.1f}" stroke="#555" '
            'stroke-dasharray="2 2"/>'
        )
        if width - right - last_x > 120:
            parts.append(
                f'<text x="{(last_x + width - right) / 2:.1f}" y="{top_pad + 14}" font-size="12" '
                f'text-anchor="middle" fill="#555">no backup for {gap_days:.1f} d</text>'
            )
    ticks = [(x(times[0]), points[0][0], "start"), (width - right, now or points[-1][0], "end")]
    if now and width - right - last_x > 90 and last_x - left > 90:
        ticks.append((last_x, points[-1][0], "middle"))
    parts += [
        f'<polyline fill="none" stroke="#2a6fdb" stroke-width="2" points="{line}"/>',
        f'<circle cx="{last_x:.1f}" cy="{y(sizes[-1]):.1f}" r="3" fill="#2a6fdb"/>',
        *(
            f'<line x1="{tx:.1f}" y1="{axis_y:.1f}" x2="{tx:.1f}" y2="{axis_y + 4:.1f}" stroke="#999"/>'
            f'<text x="{tx:.1f}" y="{axis_y + 17:.1f}" font-size="12" text-anchor="{anchor}">{moment:%Y-%m-%d}</text>'
            for tx, moment, anchor in ticks
        ),
        f'<text x="{width - right}" y="{height - 4}" font-size="11" text-anchor="end" fill="#555">'
        f"{'this run' if now else 'the last backup'} at the right</text>",
        "</svg>",
    ]
    return "".join(parts)


def _step(top: float) -> int:
    """A tick interval in days that gives the axis two to six ticks."""
    return next((step for step in (7, 14, 30, 60, 90, 180, 365, 730) if top / step <= 6), 1825)


def days_chart(rows: list[tuple[str, float]], warn_days: int, fail_days: int, width: int = 480) -> str:
    """Days left per certificate as bars on an axis of days from the run, against tls.warn_days
    and tls.fail_days (their labels on lines of their own, so close thresholds stay readable)."""
    if not rows:
        return ""
    left, right, bar, gap, top_pad = 110, 44, 16, 8, 36
    axis_y = top_pad + len(rows) * (bar + gap)
    height = axis_y + 34
    top = max([*(days for _, days in rows), warn_days]) * 1.1 or 1

    def x(days: float) -> float:
        return left + max(days, 0) / top * (width - left - right)

    parts = [_svg("days left per certificate", width, height)]
    for row, (label, days, colour) in enumerate(
        (("fail", fail_days, "#b3261e"), ("warn", warn_days, "#8a6d00"))
    ):
        anchor, shift = ("end", -3) if x(days) > width / 2 else ("start", 3)
        parts.append(
            f'<line x1="{x(days):.1f}" y1="{12 + 14 * row}" x2="{x(days):.1f}" y2="{axis_y}" stroke="{colour}" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{x(days) + shift:.1f}" y="{12 + 14 * row}" font-size="11" fill="{colour}" '
            f'text-anchor="{anchor}">{label} below {days} d</text>'
        )
    for i, (name, days) in enumerate(rows):
        top_y = top_pad + i * (bar + gap)
        colour = "#b3261e" if days < fail_days else "#8a6d00" if days < warn_days else "#2e8b57"
        parts.append(
            f'<text x="{left - 6}" y="{top_y + 12}" font-size="12" text-anchor="end">{html.escape(name)}</text>'
            f'<rect x="{left}" y="{top_y}" width="{x(days) - left:.1f}" height="{bar}" fill="{colour}"/>'
            f'<text x="{x(days) + 4:.1f}" y="{top_y + 12}" font-size="12">{days:.0f} d</text>'
        )
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#999"/>')
    for tick in range(0, int(top) + 1, _step(top)):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{axis_y}" x2="{x(tick):.1f}" y2="{axis_y + 4}" stroke="#999"/>'
            f'<text x="{x(tick):.1f}" y="{axis_y + 16}" font-size="11" text-anchor="middle">{tick} d</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 2}" font-size="11" fill="#555">days from this run until expiry</text></svg>'
    )
    return "".join(parts)
