"""Runs in Prometheus exposition format: what `deploycheck serve` answers on /metrics for every
target it serves and `deploycheck verify --metrics FILE` leaves for node_exporter's textfile
collector. Built from the archived report.json, so a scrape never waits for a target. One
registry for all targets (each series carries a `profile` label), so every metric has one HELP
and TYPE line however many targets there are, as `promtool check metrics` wants.

Times are absolute Unix times (`..._timestamp_seconds`) where an alert compares them with
`time()`: a run that stopped happening, a backup that stopped coming, a certificate running out
are seen between runs too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

RUN_OUTCOMES = ("passed", "failed", "error")  # report.json's `outcome`
_FRESH, _CERT = "test_backup_is_fresh[", "test_certificates_are_valid_now["


def exposition(reports: Sequence[dict[str, Any]]) -> bytes:
    """The newest run of each target (one report.json per profile) as one exposition."""
    registry = CollectorRegistry()

    def gauge(name: str, help: str, *labels: str) -> Gauge:
        return Gauge(name, help, ["profile", *labels], registry=registry)

    finished_at = gauge("deploycheck_last_run_timestamp_seconds", "When the last run finished (Unix time)")
    duration = gauge("deploycheck_last_run_duration_seconds", "How long the last run took")
    exit_code = gauge(
        "deploycheck_last_run_exit_code", "The last run's exit code (0 passed, 1 findings, 3 unreachable)"
    )
    outcome = gauge(
        "deploycheck_last_run_outcome",
        "1 for the last run's outcome (passed, failed, error), 0 for the others",
        "outcome",
    )
    ok = gauge(
        "deploycheck_check_ok",
        "1 when the check passed (or was waived or skipped) in the last run, 0 when it did not",
        "check",
        "area",
        "severity",
    )
    check_outcome = gauge(
        "deploycheck_check_outcome",
        "1, labelled with the check's outcome in the last run (passed, failed, warned, skipped, "
        "waived, error)",
        "check",
        "area",
        "severity",
        "outcome",
    )
    pending = gauge("deploycheck_pending_migrations", "Migrations on disk not applied, at the last run")
    age = gauge(
        "deploycheck_backup_age_seconds", "Age of the newest scheduled backup at the last run", "database"
    )
    taken = gauge(
        "deploycheck_backup_timestamp_seconds",
        "When the newest scheduled backup was taken (Unix time)",
        "database",
    )
    expiry = gauge(
        "deploycheck_certificate_expiry_seconds",
        "Seconds from the last run until the endpoint's first certificate expires",
        "endpoint",
    )
    expires = gauge(
        "deploycheck_certificate_expiry_timestamp_seconds",
        "When the endpoint's first certificate expires (Unix time)",
        "endpoint",
    )
    for report in reports:
        profile, finished = report["profile"], unix_time(report["finished_at"])
        finished_at.labels(profile).set(finished)
        duration.labels(profile).set(max(0.0, finished - unix_time(report["started_at"])))
        exit_code.labels(profile).set(report["exit_code"])
        for state in RUN_OUTCOMES:
            outcome.labels(profile, state).set(1 if report["outcome"] == state else 0)
        for check in report["checks"]:
            labels = (profile, check["id"], check["area"], check["severity"])
            good = check["outcome"] in ("passed", "waived", "skipped")
            ok.labels(*labels).set(1 if good else 0)
            check_outcome.labels(*labels, check["outcome"]).set(1)
            details, name = check.get("details") or {}, check["id"].split("::", 1)[-1]
            if name == "test_nothing_pending" and "pending" in details:
                pending.labels(profile).set(details["pending"])
            elif name.startswith(_FRESH) and "age_s" in details:
                database = name[len(_FRESH) : -1]
                age.labels(profile, database).set(details["age_s"])
                taken.labels(profile, database).set(finished - details["age_s"])
            elif name.startswith(_CERT) and "expires_at" in details:
                endpoint, at = (
                    name[len(_CERT) : -1],
                    datetime.fromisoformat(details["expires_at"]).timestamp(),
                )
                expiry.labels(profile, endpoint).set(at - finished)
                expires.labels(profile, endpoint).set(at)
    return generate_latest(registry)


def unix_time(stamp: str) -> float:
    """An ISO time of report.json (`...Z`) as Unix time."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def archive_readable(readable: Mapping[str, bool]) -> bytes:
    """Per profile, 1 when the archive's newest run reads, 0 when it does not (a cut history
    line, a missing run folder, a cut report.json): what `serve` adds to /metrics so an alert
    sees the damage."""
    registry = CollectorRegistry()
    gauge = Gauge(
        "deploycheck_archive_readable",
        "1 when the archive's newest run could be read, 0 when it could not",
        ["profile"],
        registry=registry,
    )
    for profile, good in readable.items():
        gauge.labels(profile).set(1 if good else 0)
    return generate_latest(registry)
