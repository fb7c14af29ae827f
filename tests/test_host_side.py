"""The host side (issue 26): what deploycheck reads, writes, deletes and prints on the machine it
runs on, each tried with hostile input on real files and real servers."""

from __future__ import annotations

import stat

import pytest
import trustme
import yaml

from runner.errors import ProfileError
from runner.profile.loader import load_profile
from runner.sandbox.mailbox import dovecot_server
from tests.conftest import deploycheck

SECRET = "Sup3r-Secret-PW"


def test_a_value_read_from_a_file_is_never_shown_in_a_validation_error(tmp_path) -> None:
    (tmp_path / "dbpw").write_text(SECRET + "\n")
    profile = tmp_path / "p.yml"
    profile.write_text(yaml.safe_dump({"database": {"user": "u", "name": "d", "port_file": "dbpw"}}))
    with pytest.raises(ProfileError, match=r"database\.port") as raised:
        load_profile(str(profile))
    assert SECRET not in str(raised.value)
    result = deploycheck("status", "--profile", str(profile))
    assert result.returncode == 2 and "database.port" in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("filename", ["...yml", "-x.yml", ".hidden.yml"])
def test_a_profile_name_that_is_no_folder_name_is_refused(tmp_path, filename) -> None:
    profile = tmp_path / filename
    profile.write_text("target: t\n")
    reports = tmp_path / "deep" / "reports"
    result = deploycheck("verify", "--profile", str(profile), "--reports", str(reports))
    assert result.returncode == 2 and "rename the file" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([filename])  # nothing written anywhere


def test_a_bad_ca_file_is_a_profile_error_not_a_traceback(tmp_path, mariadb) -> None:
    (tmp_path / "ca.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    profile = tmp_path / "p.yml"
    database = {"host": "127.0.0.1", "port": mariadb.port, "user": "root", "name": "mysql"}
    profile.write_text(
        yaml.safe_dump({"database": {**database, "tls": {"ca": "ca.pem"}}, "migrations": {"dir": "."}})
    )
    result = deploycheck("status", "--profile", str(profile))
    assert result.returncode == 2, result.stderr
    assert "cannot be used as a CA file" in result.stderr and "Traceback" not in result.stderr


def test_the_demo_mailbox_password_file_is_not_world_readable() -> None:
    with dovecot_server(ca=trustme.CA(), password="Users-File-Secret") as mailbox:
        users = mailbox.ca_file.parent / "users"
        assert "Users-File-Secret" in users.read_text()
        assert stat.S_IMODE(users.stat().st_mode) & 0o077 == 0
        mailbox.empty()  # dovecot still reads it: the login works
