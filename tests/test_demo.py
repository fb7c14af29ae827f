"""`deploycheck demo`: the main job on a fresh machine, healthy and broken in each known way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.sandbox.target import FAULTS

pytestmark = pytest.mark.slow

# Which check each fault must fail (and nothing else may fail).
EXPECTED = {
    "pending-migration": ["test_nothing_pending"],
    "edited-migration": ["test_no_checksum_mismatch"],
    "failed-migration": ["test_nothing_failed"],
    "latin1-database": ["test_default_character_set_is_utf8mb4", "test_default_collation_is_utf8mb4"],
    "loose-sql-mode": ["test_sql_mode_is_strict"],
    "missing-table": ["test_required_tables_exist"],  # dropped after the backups were taken
    "dropped-foreign-key": [],  # a warning: the verify block no longer holds
    "missing-env": ["test_required_variables_are_set"],
    "placeholder-secret": ["test_no_placeholder_values"],
    "dev-environment": ["test_no_forbidden_values"],
    "health-down": ["test_endpoint_answers[health]", "test_endpoint_answers[api-version]"],
    "health-degraded": ["test_endpoint_answers[health]"],
    "health-slow": ["test_endpoint_answers[health]"],
    "stale-backup": ["test_backup_is_fresh[catalogue]"],
    "corrupt-backup": ["test_newest_backup_is_intact[catalogue]"],
    "leftover-dump": ["test_no_leftover_uncompressed_dumps"],
    "expiring-certificate": ["test_certificates_outlast_fail_days[https]"],
    "spf-missing-relay": ["test_spf_authorizes_every_relay"],
    "smtp-wrong-password": ["test_login_is_accepted"],
}


def demo(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    reports = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "runner", "demo", "--reports", str(reports), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    found = sorted(reports.glob("demo/*/report.json"))
    return result, json.loads(found[-1].read_text()) if found else None


def test_every_fault_is_listed_and_expected() -> None:
    assert set(FAULTS) == set(EXPECTED)


def test_healthy_demo_passes(tmp_path) -> None:
    result, report = demo(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert report is not None and report["outcome"] == "passed"
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] >= 40
    skipped = {c["id"].split("::")[1] for c in report["checks"] if c["outcome"] == "skipped"}
    assert skipped == {  # no mailbox in the demo: delivery confirmation needs smtp.imap
        "test_test_email_is_delivered",
        "test_receiver_authenticates_the_test_email",
        "test_dkim_signature_verifies_and_aligns",
    }
    assert (tmp_path / "reports" / "demo" / "index.html").exists()


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_fault_fails_exactly_its_checks(tmp_path, fault: str) -> None:
    result, report = demo(tmp_path, "--break", fault)
    assert report is not None, result.stderr[-3000:]
    failed = sorted(c["id"].split("::")[1] for c in report["checks"] if c["outcome"] in ("failed", "error"))
    assert failed == sorted(EXPECTED[fault])
    assert result.returncode == (1 if EXPECTED[fault] else 0)


def test_unknown_fault_is_a_usage_error(tmp_path) -> None:
    result, _ = demo(tmp_path, "--break", "gremlins")
    assert result.returncode == 2 and "--list-faults" in result.stderr
