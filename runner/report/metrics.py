"""Runs in Prometheus exposition format: what `deploycheck serve` answers on /metrics and
`deploycheck verify --metrics FILE` leaves for node_exporter's textfile collector. Built from
the archived report.json, so a scrape never waits for the target."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest


def exposition(reports: Sequence[dict[str, Any]]) -> bytes:
    """One exposition for the runs of several targets, each series labelled with its profile:
    Prometheus refuses a metric family that appears twice in one scrape or textfile."""
    registry = CollectorRegistry()
    ok = Gauge(
        "deploycheck_check_ok",
        "1 when the check passed (or was waived or skipped), 0 when it did not",
        ["profile", "check", "severity"],
        registry=registry,
    )
    last_run = Gauge(
        "deploycheck_last_run_timestamp_seconds",
        "When the last run finished (Unix time)",
        ["profile"],
        registry=registry,
    )
    exit_code = Gauge(
        "deploycheck_last_run_exit_code",
        "The last run's exit code (0 passed, 1 failed, 3 unreachable)",
        ["profile"],
        registry=registry,
    )
    pending = Gauge(
        "deploycheck_pending_migrations", "Migrations on disk not applied", ["profile"], registry=registry
    )
    age = Gauge(
        "deploycheck_backup_age_seconds",
        "Age of the newest backup",
        ["profile", "database"],
        registry=registry,
    )
    expiry = Gauge(
        "deploycheck_certificate_expiry_seconds",
        "Seconds until the first certificate of the endpoint expires",
        ["profile", "endpoint"],
        registry=registry,
    )
    for report in reports:
        profile, finished = report["profile"], _unix(report["finished_at"])
        last_run.labels(profile).set(finished)
        exit_code.labels(profile).set(report["exit_code"])
        for check in report["checks"]:
            good = check["outcome"] in ("passed", "waived", "skipped")
            ok.labels(profile, check["id"], check["severity"]).set(1 if good else 0)
            details, name = check.get("details") or {}, check["id"].split("::", 1)[-1]
            if name == "test_nothing_pending" and "pending" in details:
                pending.labels(profile).set(details["pending"])
            elif name.startswith("test_backup_is_fresh[") and "age_s" in details:
                age.labels(profile, name[len("test_backup_is_fresh[") : -1]).set(details["age_s"])
            elif name.startswith("test_certificates_are_valid_now[") and "expires_at" in details:
                endpoint = name[len("test_certificates_are_valid_now[") : -1]
                expiry.labels(profile, endpoint).set(
                    datetime.fromisoformat(details["expires_at"]).timestamp() - finished
                )
    return generate_latest(registry)


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def archive_readable(profile: str, readable: bool) -> bytes:
    """1 when the archive's newest run reads, 0 when it does not (a cut history line, a missing
    run folder, a cut report.json): what `serve` adds to /metrics so an alert sees the damage."""
    registry = CollectorRegistry()
    Gauge(
        "deploycheck_archive_readable",
        "1 when the archive's newest run could be read, 0 when it could not",
        ["profile"],
        registry=registry,
    ).labels(profile).set(1 if readable else 0)
    return generate_latest(registry)
