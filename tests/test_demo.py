"""`deploycheck demo`: the main job on a fresh machine, healthy and broken in each known way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.sandbox.target import FAULTS

pytestmark = pytest.mark.slow

# What reads the mail back: the test email's delivery checks and the journey.
MAILBOX_CHECKS = [
    "test_test_email_is_delivered",
    "test_receiver_authenticates_the_test_email",
    "test_dkim_signature_verifies_and_aligns",
    "test_mail_journey[password-reset]",
]
# Which check each fault must fail (and nothing else may fail).
EXPECTED = {
    "pending-migration": ["test_nothing_pending"],
    "edited-migration": ["test_no_checksum_mismatch"],
    "failed-migration": ["test_nothing_failed"],
    "latin1-database": ["test_default_character_set_is_utf8mb4", "test_default_collation_is_utf8mb4"],
    # The migrations ran under the loose sql_mode, the drift build under the scratch server's: a
    # trigger would differ in its sql_mode (drift names both); the demo's procedure is compared
    # without it, so drift passes. (Issue 28's extra drift failures: the scratch server's DROP
    # DATABASE, slowed by the disk, outlasted timeouts.default_s; reproduced with delayed fsyncs.)
    "loose-sql-mode": ["test_sql_mode_is_strict"],
    "missing-table": [  # dropped after the backups were taken
        "test_required_tables_exist",
        "test_live_schema_matches_the_migrations",
    ],
    "dropped-foreign-key": ["test_live_schema_matches_the_migrations"],  # and the verify block warns
    "hand-added-index": ["test_live_schema_matches_the_migrations"],
    "missing-env": ["test_required_variables_are_set"],
    "placeholder-secret": ["test_no_placeholder_values"],
    "dev-environment": ["test_no_forbidden_values"],
    "health-down": ["test_endpoint_answers[health]", "test_endpoint_answers[api-version]"],
    "health-degraded": ["test_endpoint_answers[health]"],
    "health-slow": ["test_endpoint_answers[health]"],
    "stale-backup": ["test_backup_is_fresh[catalogue]"],
    "corrupt-backup": ["test_newest_backup_is_intact[catalogue]", "test_newest_backup_restores[catalogue]"],
    "leftover-dump": ["test_no_leftover_uncompressed_dumps"],
    "expiring-certificate": ["test_certificates_outlast_fail_days[https]"],
    "spf-missing-relay": [  # the record, and what the receiving server concludes from it
        "test_spf_authorizes_every_relay",
        "test_receiver_authenticates_the_test_email",
        "test_mail_journey[password-reset]",
    ],
    # deploycheck's test email and the application's reset mail alike
    "smtp-wrong-password": ["test_login_is_accepted", "test_relay_accepts_the_test_email", *MAILBOX_CHECKS],
    "reset-mail-broken": ["test_mail_journey[password-reset]"],
}


def demo(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    reports = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "runner", "demo", "--reports", str(reports), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, **env},
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
    skipped = {c["id"].split("::")[1]: c["message"] for c in report["checks"] if c["outcome"] == "skipped"}
    containers = {name: why for name, why in skipped.items() if name.startswith("test_service_")}
    # nothing pending (to lint, or to rehearse on the restored copy); the dumps are restored on
    # MariaDB, which reads the sandbox line
    assert set(skipped) - set(containers) == {
        "test_pending_migrations_pass_lint",
        "test_pending_migrations_apply_to_last_nights_data[catalogue]",
        "test_newest_backup_restores_on_mysql[catalogue]",
    }
    # the demo needs no Docker engine: its container checks skip and say why
    assert len(containers) == 8 and set(containers.values()) == {"containers not configured in profile demo"}
    journey = next(c for c in report["checks"] if c["id"].endswith("test_mail_journey[password-reset]"))
    assert journey["outcome"] == "passed" and journey["details"]["journey"]["links"][0]["status"] == 200
    assert journey["details"]["journey"]["links"][0]["url"].endswith("/reset-password/********")  # its token
    assert journey["duration_s"] >= 0.1  # its request and its wait for the mail, not 0.00x
    silent = [c["id"] for c in report["checks"] if c["outcome"] == "passed" and not c["message"].strip()]
    assert silent == []  # every pass says what it measured
    assert (tmp_path / "reports" / "demo" / "index.html").exists()
    said = result.stdout + result.stderr
    for noise in (
        "login_data is deprecated",
        "(1 statements)",
        "pytest exit",
        "Generated html report",
        ".run-",
    ):
        assert noise not in said


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_fault_fails_exactly_its_checks(tmp_path, fault: str) -> None:
    result, report = demo(tmp_path, "--break", fault)
    assert report is not None, result.stderr[-3000:]
    failed = sorted(c["id"].split("::")[1] for c in report["checks"] if c["outcome"] in ("failed", "error"))
    assert failed == sorted(EXPECTED[fault]), unexpected_outcomes(report, EXPECTED[fault])
    assert result.returncode == (1 if EXPECTED[fault] else 0)


def unexpected_outcomes(report: dict, expected: list[str]) -> str:
    """Each check that failed unexpectedly or passed when it should have failed, with its outcome,
    time and message: a mismatch in CI explains itself."""
    lines = []
    for check in report["checks"]:
        name = check["id"].split("::")[1]
        if (check["outcome"] in ("failed", "error")) != (name in expected):
            lines.append(f"{name}: {check['outcome']} in {check['duration_s']} s: {check['message']}")
    return "unexpected outcomes:\n" + "\n".join(lines)


def test_without_dovecot_the_demo_reads_its_mail_from_pymap(tmp_path) -> None:
    result, report = demo(tmp_path, "-k", "test_smtp or test_mail_journey", DEPLOYCHECK_DOVECOT="")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "(pymap) on 127.0.0.1:" in result.stderr and "IMAP over TLS (starttls)" in result.stderr
    outcomes = {c["id"].split("::")[1]: c["outcome"] for c in report["checks"]}
    relay = ["test_smtp_session_is_encrypted_as_configured", "test_no_auth_before_starttls"]
    relay += ["test_login_is_accepted", "test_relay_accepts_the_test_email"]
    assert outcomes == dict.fromkeys(relay + MAILBOX_CHECKS, "passed")


def test_unknown_fault_is_a_usage_error(tmp_path) -> None:
    result, _ = demo(tmp_path, "--break", "gremlins")
    assert result.returncode == 2 and "--list-faults" in result.stderr


def _servers_under(folder: Path) -> list[str]:
    """Command lines of running mariadbd and mailbox (dovecot, pymap) processes whose files are under `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(name in cmdline for name in ("mariadbd", "dovecot", "pymap")) and str(folder) in cmdline:
            found.append(cmdline)
    return found


@pytest.fixture()
def scratch() -> Iterator[Path]:
    """The demo's $TMPDIR: short, as /tmp is (a unix socket path has at most 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="dc-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _spawn_demo(tmp_path: Path, scratch: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "demo", "--reports", str(tmp_path / "reports"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch), **env},
    )
    return proc


def _wait_for(stream, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = stream.readline()
        if text in line:
            return
        if not line:
            break
    pytest.fail(f"never saw {text!r}")


def test_demo_leaves_nothing_behind(tmp_path, scratch) -> None:
    proc = _spawn_demo(tmp_path, scratch, "-k", "test_database")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    assert list(scratch.iterdir()) == [] and _servers_under(scratch) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_kept_demo_cleans_up_when_stopped(tmp_path, scratch, signum) -> None:
    """`demo --keep` runs until stopped; then its servers stop and its folder (with the
    demo's secrets) is removed, exit 130."""
    proc = _spawn_demo(tmp_path, scratch, "--keep", "-k", "test_database")
    _wait_for(proc.stdout, "the demo target keeps running")
    assert len(_servers_under(scratch)) == 2  # mariadbd and the mailbox
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "deploycheck demo: interrupted" in err and "Traceback" not in err
    assert list(scratch.iterdir()) == [] and _servers_under(scratch) == []


def test_interrupt_while_the_database_initialises(tmp_path, scratch) -> None:
    """With no prepared data folder yet, mariadb-install-db runs: Ctrl-C then ends cleanly too."""
    cache = tmp_path / "cache"
    proc = _spawn_demo(tmp_path, scratch, DEPLOYCHECK_CACHE_DIR=str(cache))
    _wait_for(proc.stderr, "starting a throwaway MariaDB")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err[-2000:]
    assert list(scratch.iterdir()) == [] and _servers_under(scratch) == []
    assert not cache.exists() or [p.name for p in cache.iterdir() if p.name.startswith(".building-")] == []
