"""How a check's result counts: its severity, a waiver that covers it, and the outcome a
failure becomes. Pure functions of the profile's `checks` section, so the pytest hooks only
ask and record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from runner.profile.model import Checks, Waiver

SEVERITIES = ("blocker", "warning", "info")


def severity_of(checks: Checks, names: Iterable[str], marked: str | None) -> str:
    """`checks.severity` by check id or test name, else the check's own marker, else blocker."""
    for name in names:
        if name in checks.severity:
            return checks.severity[name]
    return marked or "blocker"


def waiver_for(checks: Checks, names: Iterable[str]) -> Waiver | None:
    wanted = set(names)
    return next((waiver for waiver in checks.waivers if waiver.id in wanted), None)


@dataclass(frozen=True)
class Judgement:
    """What a failed check counts as; `note` is what the waiver adds to its message."""

    outcome: str  # failed | warned | waived
    message: str
    note: str = ""

    @property
    def blocks(self) -> bool:
        return self.outcome == "failed"


def judge_failure(severity: str, waiver: Waiver | None, message: str, today: date) -> Judgement:
    """A failure of a blocker (or of a level that is none) fails the run; of a warning or info check
    it is warned; a waiver
    that has not expired makes it waived, one that has expired says so and counts for nothing."""
    note = ""
    if waiver is not None:
        if waiver.until >= today:
            note = f"waived until {waiver.until}: {waiver.reason}"
            return Judgement("waived", f"{message}\n{note}", note)
        note = f"the waiver for this check expired on {waiver.until} ({waiver.reason})"
        message = f"{message}\n{note}"
    return Judgement("warned" if severity in ("warning", "info") else "failed", message, note)
