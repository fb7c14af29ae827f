"""The host side (issue 26): what deploycheck reads, writes, deletes and prints on the machine it
runs on, each tried with hostile input on real files and real servers."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
import yaml

from runner.backups.integrity import check_backup
from runner.backups.listing import list_backups
from runner.backups.source import fetch
from runner.errors import ProfileError
from runner.migrations import files as migration_files
from runner.profile.loader import load_profile
from runner.profile.model import Backups
from runner.sandbox.mailbox import dovecot_server
from runner.sandbox.mariadb import MariaDBServer
from tests.conftest import ROOT, deploycheck

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


@pytest.mark.parametrize("kind", ["fifo", "device", "too-large"])
def test_a_file_key_naming_a_fifo_a_device_or_a_huge_file_is_refused_at_once(tmp_path, kind) -> None:
    """`password_file:` pointing at a FIFO used to block the load forever (nobody writes it);
    /dev/zero would fill memory. Refused with the key and the reason, quickly."""
    secret = tmp_path / "dbpw"
    if kind == "fifo":
        os.mkfifo(secret)
    elif kind == "device":
        secret = Path("/dev/zero")
    else:
        secret.write_bytes(b"x" * (1024 * 1024))
    profile = tmp_path / "p.yml"
    profile.write_text(yaml.safe_dump({"database": {"user": "u", "name": "d", "password_file": str(secret)}}))
    result = deploycheck("status", "--profile", str(profile), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "database.password_file" in result.stderr or "password_file" in result.stderr
    assert ("not a regular file" if kind != "too-large" else "more than a secret's") in result.stderr


@pytest.mark.parametrize("blocked", ["reports", "reports/p"])
def test_a_reports_folder_that_cannot_be_written_is_exit_2_before_the_run(tmp_path, blocked) -> None:
    """A file where the archive's folder belongs (root writes any folder: this fails as root too)."""
    (tmp_path / "app.env").write_text("A=1\n")
    (tmp_path / "p.yml").write_text("target: t\nenv: {source: 'dotenv:app.env', required: [A]}\n")
    (tmp_path / blocked).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocked).write_text("not a folder")
    result = deploycheck(
        "verify", "--profile", str(tmp_path / "p.yml"), "--reports", str(tmp_path / "reports")
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot write the reports folder" in result.stderr and "Traceback" not in result.stderr


def test_a_docker_env_source_that_would_be_an_option_is_refused(tmp_path) -> None:
    profile = tmp_path / "p.yml"
    profile.write_text("target: t\nenv: {source: 'docker:-H=tcp://127.0.0.1:1', required: [A]}\n")
    result = deploycheck("verify", "--profile", str(profile), "--reports", str(tmp_path / "r"))
    assert result.returncode == 2 and "env.source" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


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
        assert stat.S_IMODE((users.parent / "key.pem").stat().st_mode) == 0o600
        mailbox.empty()  # dovecot still reads it: the login works


# -- backups now and fetch: the dump tool's options, its output, the files it leaves ----------

HOSTILE_PASSWORD = "ab#cd;e\"f'g\\h i  ;-- x"


def _backup_project(project, folder: Path, **database: object) -> None:
    folder.mkdir(exist_ok=True)
    project.add("V1__t.sql", "CREATE TABLE gene (id INT PRIMARY KEY);\nINSERT INTO gene VALUES (1), (2);\n")
    project.migrator().migrate()
    project.write_profile(
        database=database,
        backups={"source": str(folder), "schedule": "0 3 * * *", "required_tables": ["gene"]},
    )


def _dumper(project, host: str = "localhost", password: str = HOSTILE_PASSWORD) -> str:
    user = f"dump_{project.database}"
    with project.server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
        cur.execute(
            f"GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES ON `{project.database}`.* TO '{user}'@'{host}'"
        )
    return user


def test_backups_now_reads_no_option_file_but_its_own_and_takes_any_password(project, tmp_path) -> None:
    folder = tmp_path / "backup"
    _backup_project(project, folder, user=_dumper(project), password=HOSTILE_PASSWORD)
    home = tmp_path / "home"
    home.mkdir()
    hostile = "[client]\nsocket=/nonexistent/other.sock\nuser=root\npassword=wrong\nport=1\n"
    (home / ".my.cnf").write_text(hostile + "[mysqldump]\nsocket=/nonexistent/other.sock\nwhere=1=0\n")
    env = {**os.environ, "HOME": str(home), "MYSQL_UNIX_PORT": "/nonexistent/x.sock", "MYSQL_PWD": "wrong"}
    result = project.cli("backups", "now", env=env)
    assert result.returncode == 0, result.stderr
    (made,) = folder.iterdir()
    assert check_backup(made, ["gene"]).dump.real_tables["gene"].rows == 2  # all rows: no WHERE slipped in
    assert stat.S_IMODE(made.stat().st_mode) == 0o600  # production data: its owner's alone
    assert HOSTILE_PASSWORD not in result.stdout + result.stderr


def test_backups_now_refuses_a_server_without_tls_when_the_profile_requires_it(project, tmp_path) -> None:
    folder = tmp_path / "backup"
    user = _dumper(project, host="127.0.0.1")
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    tcp = {"socket": None, "host": "127.0.0.1", "port": project.server.port, "user": user}
    _backup_project(project, folder, **tcp, password=HOSTILE_PASSWORD, tls={"ca": str(ca), "required": True})
    result = project.cli("backups", "now")
    assert result.returncode == 1 and "mariadb-dump failed" in result.stderr, result.stderr
    assert "SSL" in result.stderr and list(folder.iterdir()) == []


def test_backups_now_takes_a_server_without_tls_unless_the_profile_requires_it(project, tmp_path) -> None:
    """The dump tool is told what the profile asks, whatever its own default: MariaDB's client
    demands verified TLS since 11.4, and would refuse the session server, which offers none."""
    folder = tmp_path / "backup"
    user = _dumper(project, host="127.0.0.1")
    tcp = {"socket": None, "host": "127.0.0.1", "port": project.server.port}
    _backup_project(project, folder, **tcp, user=user, password=HOSTILE_PASSWORD)
    for tls in ({"required": False}, None):
        project.write_profile(database={"tls": tls})
        result = project.cli("backups", "now")
        assert result.returncode == 0, result.stderr
    assert len(list(folder.iterdir())) == 2


@pytest.fixture()
def flooding_dump_tool(tmp_path) -> dict[str, str]:
    """A stand-in dump tool that writes 200 KB to stderr before anything to stdout, then fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mariadb-dump"
    tool.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "if '--version' in sys.argv:\n"
        "    print('mariadb-dump from MariaDB (a stand-in)'); sys.exit(0)\n"
        "sys.stderr.write('warning: noise\\n' * 14000)\n"
        "sys.stderr.write('the real error at the end\\n')\n"
        "sys.stdout.write('-- nothing\\n')\n"
        "sys.exit(2)\n"
    )
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_a_dump_tool_that_floods_stderr_neither_hangs_nor_floods_the_message(
    project, tmp_path, flooding_dump_tool
) -> None:
    folder = tmp_path / "backup"
    _backup_project(project, folder)
    result = project.cli("backups", "now", env=flooding_dump_tool, timeout=60)
    assert result.returncode == 1 and "failed (exit 2)" in result.stderr
    assert "the real error at the end" in result.stderr and len(result.stderr) < 20_000
    assert list(folder.iterdir()) == []


def test_a_planted_partial_symlink_is_not_written_through(project, tmp_path) -> None:
    folder = tmp_path / "backup"
    _backup_project(project, folder)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    now = datetime.now(UTC)
    for second in range(120):  # every name the old partial file could take in the next two minutes
        stamp = now + timedelta(seconds=second)
        (folder / f".{stamp:%Y%m%d%H%M%S}.{project.database}.sql.gz.partial").symlink_to(victim)
    result = project.cli("backups", "now")
    assert result.returncode == 0, result.stderr
    made = Path(result.stdout.strip())
    assert victim.read_text() == "precious" and check_backup(made, ["gene"]).is_intact
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / f".{made.name}.partial").symlink_to(victim)
    fetched = project.cli("backups", "fetch", made.name, "--to", str(dest))
    assert fetched.returncode == 0, fetched.stderr
    copy = dest / made.name
    assert victim.read_text() == "precious" and copy.read_bytes() == made.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in dest.iterdir()) == sorted([copy.name, f".{made.name}.partial"])


def test_backups_now_dumps_over_verified_tls_with_the_profiles_ca(tmp_path) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    tls = tuple(f"--ssl-{k}={tmp_path / (k + '.pem')}" for k in ("cert", "key", "ca"))
    with MariaDBServer(tmp_path / "server", options=tls, tcp=True) as server:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE app")
            cur.execute("CREATE TABLE app.gene (id INT PRIMARY KEY)")
            cur.execute("CREATE USER 'tlsdump'@'127.0.0.1' IDENTIFIED BY %s REQUIRE SSL", (HOSTILE_PASSWORD,))
            cur.execute("GRANT ALL ON app.* TO 'tlsdump'@'127.0.0.1'")
        (tmp_path / "backup").mkdir()
        database = {"host": "127.0.0.1", "port": server.port, "user": "tlsdump", "name": "app"}
        profile = tmp_path / "tls.yml"
        profile.write_text(
            yaml.safe_dump(
                {
                    "database": {**database, "password": HOSTILE_PASSWORD, "tls": {"ca": "ca.pem"}},
                    "backups": {"source": "backup", "schedule": "0 3 * * *", "required_tables": ["gene"]},
                }
            )
        )
        result = deploycheck("backups", "now", "--profile", str(profile))
        assert result.returncode == 0, result.stderr
        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        profile.write_text(profile.read_text().replace("ca: ca.pem", f"ca: {other}"))
        refused = deploycheck("backups", "now", "--profile", str(profile))
        assert refused.returncode == 1 and "certificate" in refused.stderr.lower(), refused.stderr


def test_archive_pages_are_not_written_through_a_planted_temporary_name(tmp_path) -> None:
    from tests.test_archive import archive_of

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    base = tmp_path / "reports" / "p"
    base.mkdir(parents=True)
    for name in ("index.html", "history.jsonl", "report.json"):
        (base / f".{name}.tmp").symlink_to(victim)
    archive_of(tmp_path / "reports", 2)
    assert victim.read_text() == "precious" and "2 run(s)" in (base / "index.html").read_text()
    assert stat.S_IMODE((base / "index.html").stat().st_mode) == 0o644


def test_verify_imports_no_conftest_from_the_folders_above_the_checks(tmp_path) -> None:
    """Installed in a .venv inside the application's repository, the gate must not run the
    application's own test conftest (autouse fixtures that create or flush databases)."""
    app = tmp_path / "app"
    checks = app / ".venv" / "lib" / "checks"
    shutil.copytree(ROOT / "checks", checks, ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "app-conftest-was-imported"
    (app / "conftest.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    profile = tmp_path / "p.yml"
    (tmp_path / "app.env").write_text("A=1\n")  # a check that comes to a verdict: the run is archived
    profile.write_text("target: t\nenv: {source: 'dotenv:app.env', required: [A]}\n")
    driver = (
        "import sys\nfrom pathlib import Path\nimport runner.suite.run as run\n"
        "run.checks_dir = lambda: Path(sys.argv[1])  # as if installed there\n"
        "sys.exit(run.run_checks(sys.argv[2], strict=False, reports_root=Path(sys.argv[3]),"
        " pytest_args=['-k', 'reachable or test_env'], out=sys.stdout))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", driver, str(checks), str(profile), str(tmp_path / "reports")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert "report:" in result.stdout, result.stdout + result.stderr  # the suite ran
    assert not marker.exists()


def test_verify_runs_no_pytest_plugin_or_option_from_the_environment(tmp_path) -> None:
    """A CI job's PYTEST_ADDOPTS (here deselecting every check), PYTEST_PLUGINS and a plugin that
    pytest would autoload from the venv (an entry point) must not change the gate."""
    site = tmp_path / "site"
    (site / "evil_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "evil_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: evil-plugin\nVersion: 1.0\n"
    )
    (site / "evil_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[pytest11]\nevil = evil_autoloaded\n"
    )
    for module in ("evil_autoloaded", "evil_named"):
        (site / f"{module}.py").write_text(f"open({str(tmp_path / module)!r}, 'w').close()\n")
    (tmp_path / "app.env").write_text("A=1\n")
    (tmp_path / "p.yml").write_text("target: t\nenv: {source: 'dotenv:app.env', required: [A]}\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "PYTEST_ADDOPTS": "-k nothing_matches_this",
        "PYTEST_PLUGINS": "evil_named",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "verify",
            "--profile",
            str(tmp_path / "p.yml"),
            "--reports",
            str(tmp_path / "reports"),
            "-k",
            "test_env",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ignoring PYTEST_ADDOPTS and PYTEST_PLUGINS" in result.stdout
    assert "passed" in result.stdout.splitlines()[-2]
    assert not (tmp_path / "evil_autoloaded").exists() and not (tmp_path / "evil_named").exists()


# -- SSH sources: names that forge entries, destinations that are options -------------------


def test_remote_names_with_tabs_newlines_or_bad_utf8_neither_forge_entries_nor_crash(sshd, tmp_path) -> None:
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "202611230300.app.sql.gz").write_bytes(gzip.compress(b"-- a dump\n"))
    forger = "junk\t1\t1700000000\tf\t\tf\n202611250300.app.sql.gz"  # a row for a file that is not there
    (folder / forger).write_bytes(b"x")
    (folder / "line\nbreak.sql.gz").write_bytes(b"x")
    os.close(os.open(os.path.join(os.fsencode(folder), b"\xff\xfe.sql.gz"), os.O_CREAT | os.O_WRONLY, 0o600))
    cfg = Backups(
        source=sshd.url(folder),
        schedule="0 3 * * *",
        identity_file=sshd.identity,
        known_hosts_file=sshd.known_hosts,
    )
    (folder / "back\\slash.sql.gz").write_bytes(gzip.compress(b"-- a dump\n"))
    remote = list_backups(cfg)
    assert [f.name for f in remote.files] == ["202611230300.app.sql.gz", "back\\slash.sql.gz"]
    copy = fetch(remote.source, "back\\slash.sql.gz", tmp_path)  # its checksum read back right
    assert copy.read_bytes() == (folder / "back\\slash.sql.gz").read_bytes()
    here = list_backups(cfg.model_copy(update={"source": str(folder)}))
    assert [f.to_dict() for f in here.files] == [f.to_dict() for f in remote.files]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("ssh://-oProxyCommand=false@127.0.0.1/backup", "must not start with '-'"),
        ("ssh://u@-oProxyCommand=x/backup", "must not start with '-'"),
        ("ssh://u@127.0.0.1:99999/backup", "Port out of range 0-65535"),
        ("ssh://u@127.0.0.1:0/backup", "port 0"),  # not ssh's 22
        ("ssh://u\tser@127.0.0.1/backup", "control characters"),  # urlsplit drops tabs and line breaks
        ("ssh://127.0.0.1/back\nup", "control characters"),
        ("SSH://u@127.0.0.1/backup", "is not a local folder or ssh://"),  # not opened as ssh, nor as a folder
    ],
)
def test_an_ssh_source_whose_user_host_or_port_is_no_such_thing_is_a_profile_error(
    tmp_path, source, problem
) -> None:
    """Refused when the profile loads, by every command: `verify` once erred in each backup
    check and exited 1, as if the target were broken rather than the profile."""
    profile = tmp_path / "p.yml"
    profile.write_text(yaml.safe_dump({"backups": {"source": source, "schedule": "0 3 * * *"}}))
    for command in (["backups", "list"], ["verify", "--reports", str(tmp_path / "reports")]):
        result = deploycheck(*command, "--profile", str(profile))
        assert result.returncode == 2 and problem in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()


# -- migration placeholders: how values go into SQL, and where they are shown ---------------

TRICKY_SECRET = "it's-a\"Secret\\';#-- x\\"


def test_raw_placeholder_values_that_could_end_a_quote_are_refused_before_the_database_is_touched(
    project,
) -> None:
    project.write_profile(migrations={"placeholders": {"smtp_password": TRICKY_SECRET}})
    project.add(
        "V1__cfg.sql", "CREATE TABLE cfg (v VARCHAR(200));\nINSERT INTO cfg VALUES ('${smtp_password}');\n"
    )
    result = project.cli("migrate", "--no-backup")
    assert result.returncode == 1 and "placeholder ${smtp_password} holds" in result.stderr
    assert "placeholder_mode: literal" in result.stderr and "Secret" not in result.stdout + result.stderr
    assert project.query("SHOW TABLES") == []


def test_literal_placeholders_arrive_exactly_whatever_the_sql_mode_and_are_masked_in_a_dry_run(
    project,
) -> None:
    values = {"smtp_password": TRICKY_SECRET, "greeting": "a\\b 'c'"}
    project.write_profile(migrations={"placeholders": values, "placeholder_mode": "literal"})
    project.add(
        "V1__cfg.sql",
        "CREATE TABLE cfg (k VARCHAR(20), v VARCHAR(200));\n"
        "INSERT INTO cfg VALUES ('pw', ${smtp_password}), ('greeting', ${greeting});\n"
        "-- a comment that names ${smtp_password} is not sent, so nothing is put in it\n"
        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');\n"
        "INSERT INTO cfg VALUES ('pw2', ${smtp_password}), ('escaped', '$${smtp_password}');\n",
    )
    dry = project.cli("migrate", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "('pw', '********')" in dry.stdout and "Secret" not in dry.stdout + dry.stderr
    assert "'a\\\\b ''c'''" in dry.stdout  # not a secret: shown, escaped for the default sql_mode
    result = project.cli("migrate", "--no-backup")
    assert result.returncode == 0, result.stderr
    assert dict(project.query("SELECT k, v FROM cfg")) == {
        "pw": TRICKY_SECRET,
        "greeting": "a\\b 'c'",
        "pw2": TRICKY_SECRET,
        "escaped": "${smtp_password}",
    }


def test_a_placeholder_filled_from_a_secret_variable_is_masked_in_a_dry_run(project) -> None:
    """`api_base: ${API_TOKEN}`: the placeholder's name says nothing, the variable's does."""
    project.write_profile(migrations={"placeholders": {"api_base": "${API_TOKEN}"}})
    project.add(
        "V1__cfg.sql", "CREATE TABLE cfg (v VARCHAR(200));\nINSERT INTO cfg VALUES ('${api_base}');\n"
    )
    dry = project.cli("migrate", "--dry-run", env={**os.environ, "API_TOKEN": "Api-Token-Secret-77"})
    assert dry.returncode == 0, dry.stderr
    assert "VALUES ('********')" in dry.stdout and "Api-Token-Secret-77" not in dry.stdout + dry.stderr


def test_a_literal_placeholder_inside_quotes_is_refused(project) -> None:
    project.write_profile(migrations={"placeholders": {"name": "x"}, "placeholder_mode": "literal"})
    project.add("V1__q.sql", "SELECT 'hello ${name}';\n")
    result = project.cli("migrate", "--no-backup")
    assert (
        result.returncode == 1
        and "V1__q.sql:1" in result.stderr
        and "${name} is inside quotes" in result.stderr
    )


def test_a_secret_placeholder_is_masked_also_in_fragments_in_the_error_and_the_ledger(project) -> None:
    token = "Tok en-Secret-Value-42"
    project.write_profile(migrations={"placeholders": {"api_token": token}})
    project.add("V1__t.sql", "CREATE TABLE t (id INT);\nSELECT 1 + ${api_token};\n")
    result = project.cli("migrate", "--no-backup")
    assert result.returncode == 1 and "statement 2" in result.stderr, result.stderr
    status = project.cli("status")
    table = project.migrator().ledger.tables()[0]
    (error,) = project.query(f"SELECT error FROM `{table}`")[0]
    assert "near" in error and "1064" in error
    for shown in (result.stdout + result.stderr, status.stdout + status.stderr, error):
        assert not any(token[i : i + 4] in shown for i in range(len(token) - 3)), shown


def test_a_literal_secret_is_masked_also_as_the_server_quotes_it_escaped(project) -> None:
    """The server's "near '...'" shows the literal as sent: quotes doubled, backslashes doubled."""
    token = "q'Z\\7'k\\P'3\\v"
    sent = token.replace("\\", "\\\\").replace("'", "''")
    project.write_profile(migrations={"placeholders": {"api_token": token}, "placeholder_mode": "literal"})
    project.add("V1__t.sql", "CREATE TABLE t (id INT);\nSELECT 1 FROM ${api_token};\n")
    result = project.cli("migrate", "--no-backup")
    assert result.returncode == 1 and "statement 2" in result.stderr, result.stderr
    table = project.migrator().ledger.tables()[0]
    (error,) = project.query(f"SELECT error FROM `{table}`")[0]
    assert "near" in error and "1064" in error
    for shown in (result.stdout + result.stderr, error):
        assert not any(sent[i : i + 4] in shown for i in range(len(sent) - 3)), shown


def test_a_literal_whose_escaped_backslash_a_multibyte_charset_would_swallow_is_refused(project) -> None:
    """Under SET NAMES gbk (sjis, big5) the server reads the last byte of `€` and the first `\\`
    of the escaped `\\\\` as one character: the next `\\` escapes the closing quote, and the
    following placeholder's value runs as SQL."""
    values = {"a": "\u20ac\\", "b": ", 1), (0x41, 0x42) -- "}
    project.write_profile(migrations={"placeholders": values, "placeholder_mode": "literal"})
    project.add(
        "V1__t.sql",
        "CREATE TABLE t (a VARCHAR(50), b VARCHAR(200));\nSET NAMES gbk;\nINSERT INTO t VALUES (${a}, ${b});\n",
    )
    result = project.cli("migrate", "--no-backup")
    assert result.returncode == 1 and "placeholder ${a} holds a backslash right after" in result.stderr
    assert project.query("SHOW TABLES") == []


@pytest.mark.parametrize("mode", ["raw", "literal"])
def test_a_variable_that_is_not_utf8_is_a_profile_error_before_the_database_is_touched(project, mode) -> None:
    """An environment variable with bytes that are not UTF-8 reaches Python as surrogates, which
    no statement can be encoded with: as a placeholder it was a traceback after DDL had run."""
    project.write_profile(migrations={"placeholders": {"api_token": "${TOK}"}, "placeholder_mode": mode})
    project.add("V1__t.sql", "CREATE TABLE t (a VARCHAR(50));\nINSERT INTO t VALUES (${api_token});\n")
    env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
    env[b"TOK"] = b"Secret\xffValue99"
    result = subprocess.run(
        [sys.executable, "-m", "runner", "migrate", "--no-backup", "--profile", str(project.profile_path)],
        capture_output=True,
        cwd=project.root,
        env=env,
        timeout=120,
    )
    shown = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 2, shown
    assert (
        "migrations.placeholders.api_token: environment variable TOK holds bytes that are not UTF-8" in shown
    )
    assert "Traceback" not in shown and "Value99" not in shown
    assert project.query("SHOW TABLES") == []


def test_literal_placeholders_in_a_file_too_large_to_keep_are_escaped_for_each_statement(
    project, monkeypatch
) -> None:
    monkeypatch.setattr(migration_files, "KEEP_IN_MEMORY", 10)  # streamed, split ahead on a thread
    project.write_profile(
        migrations={"placeholders": {"smtp_password": TRICKY_SECRET}, "placeholder_mode": "literal"}
    )
    project.add(
        "V1__cfg.sql",
        "CREATE TABLE cfg (k VARCHAR(20), v VARCHAR(200));\n"
        "INSERT INTO cfg VALUES ('default', ${smtp_password});\n"
        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');\n"
        "INSERT INTO cfg VALUES ('no_backslash_escapes', ${smtp_password});\n",
    )
    project.migrator().migrate()
    assert set(project.query("SELECT v FROM cfg")) == {(TRICKY_SECRET,)}


def test_a_validator_that_quotes_a_file_value_with_repr_does_not_show_it_escaped(tmp_path) -> None:
    """repr() doubles a backslash: the value as the message quotes it is no longer the value."""
    secret = "Pw\\Leak-9a9a"
    (tmp_path / "pw").write_text(secret + "\n")
    profile = tmp_path / "p.yml"
    profile.write_text(yaml.safe_dump({"backups": {"source": str(tmp_path), "schedule_file": "pw"}}))
    result = deploycheck("backups", "list", "--profile", str(profile))
    assert result.returncode == 2 and "backups.schedule" in result.stderr, result.stderr
    assert "Leak" not in result.stdout + result.stderr


@pytest.mark.parametrize("key", ["schedule", "retention"])
def test_a_secret_variable_put_under_a_plain_key_is_not_shown_by_its_error(tmp_path, key) -> None:
    """`schedule: ${DB_PASSWORD}` (a copy-paste slip): the error must not print the password."""
    profile = tmp_path / "p.yml"
    profile.write_text(
        f"backups:\n  source: {tmp_path}\n  schedule: '0 3 * * *'\n  {key}: ${{DB_PASSWORD}}\n"
    )
    env = {**os.environ, "DB_PASSWORD": "Pw\\Leak 7b7b"}
    result = deploycheck("backups", "list", "--profile", str(profile), env=env)
    assert result.returncode == 2 and f"backups.{key}" in result.stderr, result.stderr
    assert "Leak" not in result.stdout + result.stderr


def test_a_validator_that_quotes_a_value_read_from_a_file_does_not_show_it(tmp_path) -> None:
    (tmp_path / "where").write_text(SECRET + "\n")
    profile = tmp_path / "p.yml"
    profile.write_text(yaml.safe_dump({"migrations": {"dir_file": "where"}}))
    result = deploycheck("lint", "--profile", str(profile))
    assert (
        result.returncode == 2 and "migrations.dir" in result.stderr and "is not a directory" in result.stderr
    )
    assert SECRET not in result.stderr + result.stdout
