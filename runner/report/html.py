"""Pages rendered from the Jinja2 templates beside this module (autoescaped)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2


def when(value: object) -> str:
    """A time as people read it: `2026-12-06 10:12:37 UTC`, not `2026-12-06T10:12:37.315369Z`
    (a time without a zone is shown without one; what is not a time, as it is)."""
    try:
        moment = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M:%S}"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def ago(seconds: float | None) -> str:
    """An age as people read it: `42 min ago`, `5.0 h ago`, `3.1 days ago`."""
    if seconds is None:
        return ""
    hours = max(0.0, seconds) / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} days ago"
    return f"{hours:.1f} h ago" if hours >= 1 else f"{hours * 60:.0f} min ago"


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["ago"] = ago
    return environment


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
