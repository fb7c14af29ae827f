"""Profiles: every path relative to the profile's folder, bad values refused when the profile
loads (exit 2, file and key named), and a suggestion for a mistyped key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from runner.errors import ProfileError
from runner.profile.loader import load_profile
from runner.redact import MASK, for_profile
from tests.conftest import deploycheck


def _write(folder: Path, data: dict) -> Path:
    path = folder / "profile.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_relative_paths_resolve_against_the_profile_folder_from_any_working_directory(
    tmp_path, monkeypatch
) -> None:
    site = tmp_path / "site"
    for folder in ("backup", "migrations", "secrets", "certs"):
        (site / folder).mkdir(parents=True)
    (site / "secrets" / "db_password").write_text("from-the-file\n")
    (site / "app.env").write_text("A=1\n")
    (site / "certs" / "ca.pem").write_text("-")
    path = _write(
        site,
        {
            "database": {"user": "u", "name": "d", "password_file": "secrets/db_password"},
            "migrations": {"dir": "migrations"},
            "backups": {"source": "backup", "identity_file": "certs/ca.pem"},
            "env": {"source": "dotenv:app.env"},
            "tls": {"endpoints": ["h:443"], "ca_file": "certs/ca.pem"},
        },
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seen = set()
    for cwd in (site, tmp_path, elsewhere):
        monkeypatch.chdir(cwd)
        profile = load_profile(str(path))
        seen.add(
            (
                profile.backups.source,
                profile.env.source,
                profile.migrations.dir,
                profile.backups.identity_file,
                profile.tls.ca_file,
                profile.database.password.get_secret_value(),
            )
        )
    assert seen == {
        (
            str(site / "backup"),
            f"dotenv:{site / 'app.env'}",
            site / "migrations",
            site / "certs" / "ca.pem",
            site / "certs" / "ca.pem",
            "from-the-file",
        )
    }


def test_paths_that_climb_out_of_the_profile_folder_are_normalised(tmp_path) -> None:
    """`profiles/../backup` reads as `backup` in every message that names it."""
    for folder in ("backup", "migrations", "profiles"):
        (tmp_path / folder).mkdir()
    path = tmp_path / "profiles" / "p.yml"
    path.write_text(
        yaml.safe_dump({"backups": {"source": "../backup"}, "migrations": {"dir": "../migrations"}})
    )
    profile = load_profile(str(path))
    assert profile.backups.source == str(tmp_path / "backup")
    assert profile.migrations.dir == tmp_path / "migrations" and ".." not in str(profile.migrations.dir)


@pytest.mark.parametrize(
    ("backups", "message"),
    [
        (
            {"schedule": "bogus cron"},
            "backups.schedule: 'bogus cron' is not a cron expression such as '0 3 * * *'",
        ),
        (
            {"timezone": "Mars/Olympus"},
            "backups.timezone: 'Mars/Olympus' is not a time zone name such as UTC",
        ),
    ],
)
def test_bad_schedule_or_time_zone_is_an_invalid_profile(tmp_path, backups, message) -> None:
    (tmp_path / "backup").mkdir()
    path = _write(tmp_path, {"backups": {"source": "backup", **backups}})
    with pytest.raises(ProfileError, match="^" + re.escape(f"{path}: {message}")):
        load_profile(str(path))
    result = deploycheck("backups", "list", "--profile", str(path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_missing_migrations_dir_is_an_invalid_profile(tmp_path) -> None:
    path = _write(tmp_path, {"database": {"user": "u", "name": "d"}, "migrations": {"dir": "nowhere"}})
    result = deploycheck("status", "--profile", str(path))
    assert result.returncode == 2
    assert f"{path}: migrations.dir: {tmp_path / 'nowhere'} is not a directory" in result.stderr


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"database": {"user": "u", "name": "d", "pasword": "x"}},
            "database.pasword: unknown key (did you mean password?)",
        ),
        (
            {"smtp": {"host": "h", "tset_recipient": "a@b"}},
            "smtp.tset_recipient: unknown key (did you mean test_recipient?)",
        ),
        (
            {"http": [{"url": "http://h", "stauts": 200}]},
            "http[0].stauts: unknown key (did you mean status?)",
        ),
        ({"databse": {}}, "databse: unknown key (did you mean database?)"),
        ({"database": {"user": "u", "name": "d", "zzz": 1}}, "database.zzz: unknown key"),
    ],
)
def test_unknown_keys_get_a_suggestion(tmp_path, data, expected) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert f"{path}: {expected}" in str(caught.value).splitlines()


JOURNEY = {"name": "reset", "request": {"url": "https://app.test/reset"}, "expect": {"to": "t@app.test"}}
MAILBOX = {"host": "imap.test", "user": "t@app.test", "password": "Imap-Passw0rd"}


@pytest.mark.parametrize(
    ("journeys", "expected"),
    [
        (
            [{**JOURNEY, "request": {**JOURNEY["request"], "json": {"a": 1}, "form": {"a": "1"}}}],
            "mail_journeys[0].request: give either json or form, not both",
        ),
        (
            [{**JOURNEY, "expect": {"to": "t@app.test", "subject": "Reset (your"}}],
            "mail_journeys[0].expect.subject: 'Reset (your' is not a regular expression",
        ),
        (
            [{**JOURNEY, "request": {"url": "https://h:99999/reset"}}],
            "mail_journeys[0].request.url: 'https://h:99999/reset' is not an http(s) URL",
        ),
        (
            [{**JOURNEY, "request": {"url": "file:///etc/passwd"}}],
            "mail_journeys[0].request.url: 'file:///etc/passwd' is not an http(s) URL",
        ),
        ([JOURNEY, JOURNEY], "mail_journeys: the name 'reset' is given twice"),
        (
            [JOURNEY],
            "mail_journeys: 'reset' has no mailbox to read: give it an imap: block, or configure smtp.imap",
        ),
    ],
)
def test_invalid_mail_journeys_are_an_invalid_profile(tmp_path, journeys, expected) -> None:
    path = _write(
        tmp_path,
        {
            "mail_journeys": journeys,
            **({"smtp": {"host": "h", "imap": MAILBOX}} if len(journeys) == 2 else {}),
        },
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert expected in str(caught.value)


@pytest.mark.parametrize("body", ["json", "form"])
def test_a_journeys_headers_and_secret_named_body_values_are_secrets(tmp_path, body) -> None:
    """What is secret is masked (headers, a password, a token, however deep); the test account's
    address stays readable: it is what a missing mail is looked for by."""
    values = {
        "json": {"user": {"email": "reset-test@app.test", "ids": [12345], "password": {"new": "Body-Pw-77"}}},
        "form": {"email": "reset-test@app.test", "ids": "12345", "csrf_token": "Body-Pw-77"},
    }[body]
    request = {"url": "https://app.test/reset", "headers": {"X-Api": "Header-Value-123"}, body: values}
    path = _write(tmp_path, {"mail_journeys": [{**JOURNEY, "request": request, "imap": MAILBOX}]})
    mask = for_profile(load_profile(str(path))).mask
    assert mask("Header-Value-123 reset-test@app.test 12345 Body-Pw-77 https://app.test/reset") == (
        "******** reset-test@app.test 12345 ******** https://app.test/reset"
    )


def test_link_hosts_are_hosts(tmp_path) -> None:
    journey = {**JOURNEY, "imap": MAILBOX, "expect": {**JOURNEY["expect"], "link_hosts": ["h:99999"]}}
    path = _write(tmp_path, {"mail_journeys": [journey]})
    with pytest.raises(ProfileError, match=r"expect\.link_hosts\[0\]: 'h:99999' is not a host"):
        load_profile(str(path))


def test_a_containers_service_takes_the_sections_defaults(tmp_path) -> None:
    path = _write(
        tmp_path,
        {
            "containers": {
                "project": "sysndd",
                "max_restarts": 2,
                "services": {"api": {"image": "ghcr.io/org/api:9.0.1", "max_memory_pct": 75}},
            }
        },
    )
    cfg = load_profile(str(path)).containers
    api, db = cfg.service("api"), cfg.service("db")
    assert (api.image, api.max_restarts, api.max_memory_pct) == ("ghcr.io/org/api:9.0.1", 2, 75)
    assert (db.image, db.max_restarts, db.max_memory_pct) == (None, 2, 90)


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ({"project": "Shop App"}, "containers.project: String should match pattern"),
        (
            {"project": "shop", "services": {"api": {"max_memory_pct": 120}}},
            "max_memory_pct: Input should be",
        ),
        (
            {"project": "shop", "services": {"api": {"imgae": "x"}}},
            "containers.services.api.imgae: unknown key",
        ),
    ],
)
def test_invalid_containers_sections_are_an_invalid_profile(tmp_path, containers, expected) -> None:
    path = _write(tmp_path, {"containers": containers})
    with pytest.raises(ProfileError, match=re.escape(expected)):
        load_profile(str(path))


ALLOWED_HTTP = "is not an http(s) URL (http:// or https:// and a host)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"http": [{"url": "ftp://app.test/health"}]},
            f"http[0].url: 'ftp://app.test/health' {ALLOWED_HTTP}",
        ),
        ({"http": [{"url": "https:///health"}]}, f"http[0].url: 'https:///health' {ALLOWED_HTTP}"),
        ({"http": [{"url": "app.test/health"}]}, f"http[0].url: 'app.test/health' {ALLOWED_HTTP}"),
        (
            {"notify": {"webhook_url": "ftp://hooks.test/Hook-Secret-77"}},
            "notify.webhook_url: not an http(s) URL (http:// or https:// and a host) (the value is a "
            "secret: not shown)",
        ),
        (
            {"backups": {"source": "s3://bucket/backup"}},
            "backups.source: 's3://bucket/backup' is not a local folder or ssh://user@host/path",
        ),
        (
            {"backups": {"source": "ssh:///backup"}},
            "backups.source: 'ssh:///backup' is not a local folder or ssh://user@host/path",
        ),
        (
            {"containers": {"project": "p", "engine": "ftp://docker.test"}},
            "containers.engine: 'ftp://docker.test' is not a Docker engine address: unix:///path/to/"
            "docker.sock, tcp://host:port, ssh://user@host or http(s)://host:port",
        ),
        (
            {"tls": {"endpoints": ["https://app.test", "ftp://app.test"]}},
            "tls.endpoints: entry 1: 'ftp://app.test': the scheme must be https, smtps or smtp+starttls",
        ),
    ],
)
def test_a_url_of_a_scheme_deploycheck_cannot_use_is_refused_when_the_profile_loads(
    tmp_path, data, expected
) -> None:
    """An `http:` url like ftp://... was accepted and failed only when its check ran; so were
    other URL-valued keys. The message names the key and what is allowed, never a secret."""
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert str(caught.value) == f"{path}: {expected}"
    assert "Hook-Secret-77" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"http": [{"url": "ftp://u:Url-Secret-5@app.test/health"}]}, f"'ftp://u:{MASK}@app.test/health'"),
        ({"http": [{"url": "https://app.test:99999/?api_token=Url-Secret-5"}]}, f"api_token={MASK}'"),
        ({"backups": {"source": "sftp://u:Url-Secret-5@db.test/srv"}}, f"'sftp://u:{MASK}@db.test/srv'"),
        ({"containers": {"project": "p", "engine": "tcp://u:Url-Secret-5@h:x"}}, f"'tcp://u:{MASK}@h:x'"),
        ({"tls": {"endpoints": ["ftp://u:Url-Secret-5@app.test"]}}, f"'ftp://u:{MASK}@app.test'"),
        (
            {"tls": {"endpoints": [{"name": "a", "endpoint": "ftp://u:Url-Secret-5@app.test"}]}},
            f"'ftp://u:{MASK}@app.test'",
        ),
    ],
)
def test_a_refused_url_is_shown_without_its_credentials(tmp_path, data, expected) -> None:
    """A URL's password and secret-named query values are secrets in every output (the Redactor
    masks them): a load error quoting the URL masks them too."""
    path = _write(tmp_path, data)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert "Url-Secret-5" not in str(caught.value) and expected in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        {"http": [{"url": "http://127.0.0.1:9/x"}, {"url": "https://[::1]:8443/health?a=1"}]},
        {"notify": {"webhook_url": "https://hooks.test/T/B/x"}},
        {"backups": {"source": "ssh://backup@db.test:2222/srv/backups"}},
        {"containers": {"project": "p", "engine": "unix:///run/docker.sock"}},
        {"containers": {"project": "p", "engine": "ssh://deploy@host.test"}},
        {"containers": {"project": "p", "engine": "tcp://127.0.0.1:2375"}},
    ],
)
def test_urls_of_the_schemes_deploycheck_uses_load(tmp_path, data) -> None:
    load_profile(str(_write(tmp_path, data)))


def test_verify_refuses_an_ftp_health_url_before_anything_runs(tmp_path) -> None:
    path = _write(tmp_path, {"http": [{"url": "ftp://app.test/health"}]})
    result = deploycheck("verify", "--profile", str(path), "--reports", str(tmp_path / "reports"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}: http[0].url: 'ftp://app.test/health' {ALLOWED_HTTP}" in result.stderr
    assert not (tmp_path / "reports" / "profile").exists()  # nothing ran, nothing archived


SECRET_VALUE = "Pw-Exfil-4711"


@pytest.mark.parametrize(
    "data",
    [
        {
            "mail_journeys": [
                {**JOURNEY, "expect": {"to": "t@app.test", "link_hosts": ["${DB_PASSWORD}.x://y"]}}
            ]
        },
        {"http": [{"name": "h", "url": "https://[${DB_PASSWORD}]/"}]},
    ],
)
def test_a_refused_value_holding_a_secret_variable_is_not_quoted(tmp_path, monkeypatch, data) -> None:
    """A validator's words may quote the value (urlsplit's own text does), and a list item's key
    is no key: the values of the secret variables the profile reads are masked in the error."""
    monkeypatch.setenv("DB_PASSWORD", SECRET_VALUE)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(_write(tmp_path, data)))
    assert SECRET_VALUE not in str(caught.value) and MASK in str(caught.value)
