"""The result of a verification run: per-check results, the gate, report.json (schema 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner import __version__
from runner.atomic import write_atomically

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
SUMMARY_KEYS = {
    "passed": "passed",
    "failed": "failed",
    "warned": "warned",
    "skipped": "skipped",
    "waived": "waived",
    "error": "errors",
}


@dataclass
class CheckResult:
    """One check as a reader of the archived report sees it."""

    id: str
    area: str
    title: str
    severity: str
    outcome: str
    duration_s: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunReport:
    profile: str
    target: str
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[CheckResult] = field(default_factory=list)
    strict: bool = False
    unreachable: list[str] = field(default_factory=list)  # the target's parts: exit 3
    also_unreachable: list[str] = field(default_factory=list)  # other services, named beside them
    interrupted: bool = False
    not_run: list[str] = field(default_factory=list)  # collected checks that never ran (interrupted)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SUMMARY_KEYS.values(), 0)
        for check in self.checks:
            counts[SUMMARY_KEYS[check.outcome]] += 1
        return counts

    def gate(self) -> tuple[str, int]:
        """(outcome, exit code): error/3 unreachable, error/1 interrupted, failed/1, passed/0."""
        if self.unreachable:
            return "error", 3
        if self.interrupted:
            return "error", 1
        bad = {"failed", "error"} | ({"warned"} if self.strict else set())
        if any(check.outcome in bad for check in self.checks):
            return "failed", 1
        return "passed", 0

    def to_dict(self) -> dict[str, Any]:
        outcome, exit_code = self.gate()
        finished = self.finished_at or datetime.now(UTC)
        return {
            "schema": SCHEMA_VERSION,
            "tool_version": __version__,
            "profile": self.profile,
            "target": self.target,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(finished),
            "duration_s": round((finished - self.started_at).total_seconds(), 3),
            "outcome": outcome,
            "exit_code": exit_code,
            "strict": self.strict,
            "interrupted": self.interrupted,
            "unreachable": self.unreachable,
            "also_unreachable": self.also_unreachable,
            "not_run": self.not_run,
            "summary": self.summary(),
            "checks": [asdict(check) for check in self.checks],
        }

    def write_json(self, path: Path, mask: Callable[[Any], Any]) -> dict[str, Any]:
        """report.json, its values masked (`Redactor.mask_data`) before they are encoded."""
        data = mask(self.to_dict())
        write_atomically(path, json.dumps(data, indent=2, default=str) + "\n")
        return data


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
