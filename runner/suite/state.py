"""What one verification run shares between the pytest wiring and the check fixtures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.errors import DeploycheckError, TargetUnreachable
from runner.profile.model import Profile
from runner.redact import Redactor
from runner.report.model import CheckResult, RunReport
from runner.suite.pool import ProbePool

STATE = pytest.StashKey["RunState"]()
EVIDENCE = pytest.StashKey[str]()  # what a check measured, set through the `evidence` fixture


@dataclass
class RunState:
    """Everything one verification run shares: profile, secrets, probes, results."""

    profile: Profile
    redactor: Redactor
    report: RunReport
    report_dir: Path | None
    probes: ProbePool = field(default_factory=ProbePool)
    results: dict[str, CheckResult] = field(default_factory=dict)
    log_filter: logging.Filter | None = None


def section(profile: Profile, name: str) -> Any:
    """The profile section `name`, or skip: a missing section never makes a check pass."""
    value = getattr(profile, name)
    if value is None:
        pytest.skip(f"{name} not configured in profile {profile.name}")
    return value


def probe_or_fail(
    deploy: RunState, key: Hashable, probe: Callable[[], Any], *, is_target: bool = True
) -> Any:
    """The probe's result; a deploycheck error fails the check with its message (masked).
    `is_target`: not reaching it means not reaching the target at all (exit 3)."""
    try:
        return deploy.probes.get(key, probe)
    except DeploycheckError as exc:
        error = exc
    if isinstance(error, TargetUnreachable):
        named, name = (
            (deploy.report.unreachable, str(key))
            if is_target
            else (deploy.report.also_unreachable, _service(key))
        )
        if name not in named:
            named.append(name)
    pytest.fail(deploy.redactor.mask(str(error)), pytrace=False)


SERVICES = {
    "smtp": "SMTP",
    "test-email": "SMTP",
    "delivery": "IMAP",
    "tls": "TLS",
    "mail-journey": "mail journeys",
}


def _service(key: Hashable) -> str:
    """What a probe that is not the target's reached, in the verdict's words: `TLS`, not each endpoint."""
    kind = key[0] if isinstance(key, tuple) else key
    return SERVICES.get(
        str(kind), "scratch server" if kind in ("backup-drill", "schema-drift") else str(kind)
    )
