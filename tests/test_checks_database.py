"""checks/test_database.py against real MariaDB servers: healthy, then broken one way at a time."""

from __future__ import annotations

import importlib.util
import time

import pymysql
import pytest
import trustme

from runner.probes import server_facts
from runner.probes.server_facts import ServerFacts
from runner.sandbox.mariadb import MariaDBServer
from tests.conftest import CHECKS

DB_CHECKS = [
    "test_database_is_reachable",
    "test_server_version_is_supported",
    "test_default_character_set_is_utf8mb4",
    "test_default_collation_is_utf8mb4",
    "test_sql_mode_is_strict",
    "test_time_zone_is_as_configured",
    "test_required_tables_exist",
    "test_server_facts_are_recorded",
]


@pytest.fixture()
def healthy(target):
    target.add(
        "V1__schema.sql",
        "CREATE TABLE gene (id INT PRIMARY KEY);\nCREATE TABLE disease (id INT PRIMARY KEY);\n",
    )
    target.migrate()
    target.write_profile(database={"time_zone": "SYSTEM", "required_tables": ["gene", "disease"]})
    return target


def test_healthy_database_passes_every_check_as_a_select_only_user(healthy, run_checks) -> None:
    run = run_checks(healthy.profile_path, "-k", "test_database")
    assert run.outcomes("database") == dict.fromkeys(DB_CHECKS, "passed")
    assert run.exit_code == 0
    facts = run.check("test_server_facts_are_recorded")["details"]
    assert facts["flavor"] == "mariadb" and facts["uptime_s"] >= 0


def test_each_passed_database_check_says_what_it_read(healthy, mariadb, run_checks) -> None:
    """The evidence of every passed check, exact, from what the server says of itself; the details
    recorded; the facts check an info."""
    name = healthy.database
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@GLOBAL.sql_mode, @@GLOBAL.time_zone, @@system_time_zone")
        version, sql_mode, zone, system_zone = cur.fetchone()
        cur.execute(
            "SELECT default_collation_name FROM information_schema.schemata WHERE schema_name = %s", (name,)
        )
        (collation,) = cur.fetchone()
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (name,))
        (tables,) = cur.fetchone()
        deadline = time.monotonic() + 10  # an uptime of 0 s reads the same in hours however computed
        while cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'") and int(cur.fetchone()[1]) < 1:
            assert time.monotonic() < deadline, "the session's server reports no uptime"
            time.sleep(0.1)
    assert tables > 2  # gene, disease and the migrations' ledger
    run = run_checks(healthy.profile_path, "-k", "test_database")
    said = {check: run.check(check)["message"] for check in DB_CHECKS}
    facts = run.check("test_server_facts_are_recorded")["details"]
    assert said == {
        "test_database_is_reachable": (
            f"a read-only session on {name!r} (MariaDB {version}), unencrypted: the server offers no TLS"
        ),
        "test_server_version_is_supported": f"MariaDB {version.split('-')[0]} within the supported range >=10.6",
        "test_default_character_set_is_utf8mb4": f"database {name!r} defaults to character set utf8mb4",
        "test_default_collation_is_utf8mb4": f"database {name!r} defaults to collation {collation}",
        "test_sql_mode_is_strict": f"global sql_mode {','.join(sorted(sql_mode.split(',')))} holds STRICT_TRANS_TABLES",
        "test_time_zone_is_as_configured": (
            f"server time_zone {zone} (system {system_zone}) is database.time_zone SYSTEM"
        ),
        "test_required_tables_exist": f"all 2 required tables found among the {tables} of {name!r}: gene, disease",
        "test_server_facts_are_recorded": (
            f"MariaDB {version}, up {facts['uptime_s'] / 3600:.1f} h, time_zone {zone}"
        ),
    }
    assert run.check("test_database_is_reachable")["details"] == {"server_version": version}
    assert facts == {
        "version": version,
        "flavor": "mariadb",
        "uptime_s": facts["uptime_s"],
        "time_zone": zone,
    }
    assert isinstance(facts["uptime_s"], int) and facts["uptime_s"] >= 0
    severities = {check: run.check(check)["severity"] for check in DB_CHECKS}
    assert severities == {**dict.fromkeys(DB_CHECKS, "blocker"), "test_server_facts_are_recorded": "info"}


def test_time_zone_and_required_tables_unset_skip_naming_the_setting(healthy, run_checks) -> None:
    healthy.write_profile(database={"time_zone": None, "required_tables": []})
    # with a check that runs: a run of skips alone is no verdict
    run = run_checks(healthy.profile_path, "-k", "time_zone or required_tables or sql_mode")
    assert run.exit_code == 0
    assert run.said("test_time_zone_is_as_configured", "test_required_tables_exist") == {
        "test_time_zone_is_as_configured": (
            "skipped",
            "database.time_zone not configured in profile profile",
        ),
        "test_required_tables_exist": (
            "skipped",
            "database.required_tables not configured in profile profile",
        ),
    }


def test_unreachable_database_fails_with_exit_3(healthy, run_checks, tmp_path) -> None:
    healthy.write_profile(database={"socket": str(tmp_path / "no.sock")})
    run = run_checks(healthy.profile_path, "-k", "test_database")
    assert run.exit_code == 3
    assert run.report["outcome"] == "error" and run.report["unreachable"] == ["database"]
    assert "cannot connect to database" in run.check("test_database_is_reachable")["message"]


def test_unsupported_version_is_named(healthy, mariadb, run_checks) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:  # whatever MariaDB runs the tests, 10.x or 11.x
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0].split("-")[0]
    above = f">={int(version.split('.')[0]) + 1}.0"
    healthy.write_profile(database={"versions": {"mariadb": above, "mysql": ">=8.0"}})
    run = run_checks(healthy.profile_path, "-k", "test_database")
    check = run.check("test_server_version_is_supported")
    assert (check["outcome"], run.exit_code) == ("failed", 1)
    assert check["message"] == f"MariaDB {version} is outside the supported range {above}"


def test_an_explicit_time_zone_passes_as_utc_or_its_offset(healthy, mariadb, run_checks) -> None:
    """A server set to +00:00 matches time_zone UTC and +00:00 alike (not through SYSTEM)."""
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.time_zone")
        saved = cur.fetchone()[0]
        cur.execute("SET GLOBAL time_zone = '+00:00'")
    try:
        for zone in ("UTC", "+00:00"):
            healthy.write_profile(database={"time_zone": zone})
            check = run_checks(healthy.profile_path, "-k", "time_zone").check(
                "test_time_zone_is_as_configured"
            )
            assert check["outcome"] == "passed", check["message"]
            assert check["message"].startswith("server time_zone +00:00 (system ")
            assert check["message"].endswith(f") is database.time_zone {zone}")
    finally:
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL time_zone = %s", (saved,))


def test_latin1_database_fails_charset_and_collation(mariadb, run_checks, healthy) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER DATABASE `{healthy.database}` CHARACTER SET latin1 COLLATE latin1_swedish_ci")
    run = run_checks(healthy.profile_path, "-k", "test_database")
    name = healthy.database
    assert run.said("test_default_character_set_is_utf8mb4", "test_default_collation_is_utf8mb4") == {
        "test_default_character_set_is_utf8mb4": (
            "failed",
            f"database {name!r} defaults to character set 'latin1', expected utf8mb4",
        ),
        "test_default_collation_is_utf8mb4": (
            "failed",
            f"database {name!r} defaults to collation 'latin1_swedish_ci', expected a utf8mb4_* one",
        ),
    }
    assert run.exit_code == 1


@pytest.fixture()
def loose_sql_mode(mariadb):
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode")
        saved = cur.fetchone()[0]
        cur.execute("SET GLOBAL sql_mode = 'NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'")
    yield
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL sql_mode = %s", (saved,))


def test_sql_mode_without_strict_fails(healthy, loose_sql_mode, run_checks) -> None:
    run = run_checks(healthy.profile_path, "-k", "test_sql_mode")
    check = run.check("test_sql_mode_is_strict")
    assert check["outcome"] == "failed"
    assert check["message"] == (
        "global sql_mode ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION lacks STRICT_TRANS_TABLES"
    )


def test_an_empty_sql_mode_fails_saying_it_is_empty(healthy, mariadb, run_checks) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode")
        saved = cur.fetchone()[0]
        cur.execute("SET GLOBAL sql_mode = ''")
    try:
        run = run_checks(healthy.profile_path, "-k", "test_sql_mode")
    finally:
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL sql_mode = %s", (saved,))
    check = run.check("test_sql_mode_is_strict")
    assert (check["outcome"], run.exit_code) == ("failed", 1)
    assert check["message"] == "global sql_mode (empty) lacks STRICT_TRANS_TABLES"


def test_wrong_time_zone_fails(healthy, mariadb, run_checks) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.time_zone, @@system_time_zone")
        zone, system_zone = cur.fetchone()
    healthy.write_profile(database={"time_zone": "+05:00"})
    run = run_checks(healthy.profile_path, "-k", "time_zone")
    check = run.check("test_time_zone_is_as_configured")
    assert (check["outcome"], run.exit_code) == ("failed", 1)
    assert check["message"] == f"server time_zone is {zone!r} (system {system_zone!r}), expected '+05:00'"


def test_missing_required_table_is_named(healthy, run_checks) -> None:
    healthy.write_profile(database={"required_tables": ["gene", "about_content", "gene_old"]})
    run = run_checks(healthy.profile_path, "-k", "required_tables")
    check = run.check("test_required_tables_exist")
    assert (check["outcome"], run.exit_code) == ("failed", 1)
    assert check["message"] == f"required tables missing from {healthy.database!r}: about_content, gene_old"


def test_database_section_missing_skips_never_passes(healthy, run_checks) -> None:
    """Each database check skips; a run of nothing but skips is no verdict: it fails, writes
    no report and says what was missing."""
    healthy.write_profile(database=None, migrations=None)
    alone = run_checks(healthy.profile_path, "-k", "test_database")
    assert alone.exit_code == pytest.ExitCode.USAGE_ERROR and alone.report is None
    assert "no check ran to a verdict (all " in alone.output
    assert "\n  database not configured in profile profile\n" in alone.output
    (healthy.root / "app.env").write_text("APP_MODE=production\n")
    healthy.write_profile(env={"source": "dotenv:app.env", "required": ["APP_MODE"]})
    run = run_checks(healthy.profile_path, "-k", "test_database or test_env")
    assert run.exit_code == 0
    assert set(run.outcomes("database").values()) == {"skipped"}
    assert run.check("test_sql_mode_is_strict")["message"] == "database not configured in profile profile"


# -- TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A MariaDB that speaks TLS with a certificate from a test CA, and a TCP user that requires it."""
    root = tmp_path_factory.mktemp("tls-mariadb")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    cert.private_key_pem.write_to_path(str(root / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    server = MariaDBServer(
        root / "server",
        options=(
            f"--ssl-cert={root / 'cert.pem'}",
            f"--ssl-key={root / 'key.pem'}",
            f"--ssl-ca={root / 'ca.pem'}",
        ),
        tcp=True,
    )
    server.start()
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE app CHARACTER SET utf8mb4")
        cur.execute("CREATE USER 'tlsuser'@'127.0.0.1' IDENTIFIED BY 'Tls-Passw0rd' REQUIRE SSL")
        cur.execute("GRANT SELECT ON app.* TO 'tlsuser'@'127.0.0.1'")
    yield server, root
    server.remove()


def _tls_profile(tmp_path, server, ca_path, required=True):
    import yaml

    path = tmp_path / "tls.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "database": {
                    "host": "127.0.0.1",
                    "port": server.port,
                    "user": "tlsuser",
                    "password": "Tls-Passw0rd",
                    "name": "app",
                    "tls": {"required": required, **({"ca": str(ca_path)} if ca_path else {})},
                },
                "timeouts": {"default_s": 5},
            }
        )
    )
    return path


def test_tls_with_the_right_ca_passes_and_records_the_cipher(tls_server, tmp_path, run_checks) -> None:
    server, root = tls_server
    session = pymysql.connect(
        host="127.0.0.1",
        port=server.port,
        user="tlsuser",
        password="Tls-Passw0rd",
        ssl={"ca": str(root / "ca.pem")},
    )
    with (
        session as conn,
        conn.cursor() as cur,
    ):  # a session like the check's: the cipher as the server names it
        cur.execute("SELECT VERSION()")
        (version,) = cur.fetchone()
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        cipher = cur.fetchone()[1]
    assert cipher
    run = run_checks(_tls_profile(tmp_path, server, root / "ca.pem"), "-k", "reachable")
    check = run.check("test_database_is_reachable")
    assert (check["outcome"], run.exit_code) == ("passed", 0)
    assert check["details"] == {"server_version": version, "tls_cipher": cipher}
    assert check["message"] == f"a read-only session on 'app' (MariaDB {version}) over TLS, cipher {cipher}"


def test_tls_with_an_unknown_ca_is_refused(tls_server, tmp_path, run_checks) -> None:
    server, _ = tls_server
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    run = run_checks(_tls_profile(tmp_path, server, other), "-k", "reachable")
    assert run.exit_code == 3
    assert "CERTIFICATE_VERIFY_FAILED" in run.check("test_database_is_reachable")["message"]


def test_tls_required_but_not_offered_fails(mariadb, tmp_path, run_checks, healthy) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    healthy.write_profile(database={"tls": {"ca": str(ca), "required": True}})
    run = run_checks(healthy.profile_path, "-k", "reachable")
    assert run.exit_code == 3
    assert (
        "SSL is required but the server doesn't support it"
        in run.check("test_database_is_reachable")["message"]
    )


def test_tls_not_required_is_used_whenever_the_server_offers_it(tls_server, tmp_path, run_checks) -> None:
    """required: false is the client's --ssl-mode=PREFERRED: TLS when offered (here a user that
    requires it logs in), verified when a CA is given."""
    server, root = tls_server
    run = run_checks(_tls_profile(tmp_path, server, None, required=False), "-k", "reachable")
    check = run.check("test_database_is_reachable")
    assert check["outcome"] == "passed" and run.exit_code == 0
    version, cipher = check["details"]["server_version"], check["details"]["tls_cipher"]
    assert cipher and check["message"] == (
        f"a read-only session on 'app' (MariaDB {version}) over TLS, cipher {cipher}"
        " (certificate not verified: no database.tls.ca)"
    )
    verified = run_checks(_tls_profile(tmp_path, server, root / "ca.pem", required=False), "-k", "reachable")
    message = verified.check("test_database_is_reachable")["message"]
    assert verified.exit_code == 0 and "over TLS, cipher " in message and "not verified" not in message
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    refused = run_checks(_tls_profile(tmp_path, server, other, required=False), "-k", "reachable")
    assert refused.exit_code == 3  # a CA that was given is checked, required or not
    assert "CERTIFICATE_VERIFY_FAILED" in refused.check("test_database_is_reachable")["message"]


def test_tls_not_required_against_a_server_without_tls_passes_unencrypted(healthy, run_checks) -> None:
    healthy.write_profile(database={"tls": {"required": False}})
    run = run_checks(healthy.profile_path, "-k", "reachable")
    check = run.check("test_database_is_reachable")
    assert check["outcome"] == "passed" and run.exit_code == 0
    assert check["message"].endswith(", unencrypted: the server offers no TLS")


def _database_checks():
    """checks/test_database.py, loaded as the suite loads it, for facts no server can be made to give."""
    spec = importlib.util.spec_from_file_location("deploycheck_checks_database", CHECKS / "test_database.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("required", "offered", "said"),
    [(False, True, ", unencrypted"), (True, False, ", unencrypted: the server offers no TLS")],
)
def test_a_session_without_tls_where_tls_is_configured_fails(target, required, offered, said) -> None:
    """The check's last word, called directly: a client takes TLS whenever it is offered, and a
    required TLS that is not offered fails the connection first, so no server gives these facts."""
    target.write_profile(database={"tls": {"required": required}})
    facts = _facts(tls_offered=offered)
    recorded: dict[str, object] = {}
    with pytest.raises(AssertionError) as failed:
        _database_checks().test_database_is_reachable(
            target.profile(), None, facts, recorded.__setitem__, lambda text: None
        )
    session = f"a read-only session on {target.database!r} (MariaDB {facts.version}){said}"
    assert str(failed.value).split("\n")[0] == (
        f"the session is not encrypted although database.tls is configured: {session}"
    )
    assert recorded == {"server_version": facts.version, "tls_cipher": ""}


# -- the probe itself (runner/probes/server_facts.py), without a check run ------------


def test_probe_reads_the_servers_facts(db_conn, database) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE gene (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE disease (id INT PRIMARY KEY)")
        cur.execute("SELECT VERSION(), @@GLOBAL.time_zone, @@system_time_zone, @@GLOBAL.sql_mode")
        version, zone, system_zone, sql_mode = cur.fetchone()
        facts = server_facts.read_facts(cur, database)
    assert (facts.version, facts.flavor, facts.flavor_name) == (version, "mariadb", "MariaDB")
    assert (facts.charset, facts.collation.split("_")[0]) == ("utf8mb4", "utf8mb4")
    assert facts.sql_mode == frozenset(sql_mode.split(",")) and "STRICT_TRANS_TABLES" in facts.sql_mode
    assert (facts.time_zone, facts.system_time_zone) == (zone, system_zone)
    assert facts.tables == {"gene", "disease"} and facts.uptime_s >= 0
    assert (facts.tls_cipher, facts.tls_offered) == ("", False)  # the session server offers no TLS
    with db_conn.cursor() as cur:
        other = server_facts.read_facts(cur, "no_such_database")
    assert (other.charset, other.collation, other.tables) == ("", "", frozenset())
    assert str(facts.numeric_version) == version.split("-")[0]


def _facts(version: str = "10.11.6-MariaDB-0+deb12u1", flavor: str = "mariadb", **kw: str) -> ServerFacts:
    values = {"time_zone": "SYSTEM", "system_time_zone": "UTC", **kw}
    return ServerFacts(version, flavor, "utf8mb4", "utf8mb4_general_ci", frozenset(), uptime_s=1, **values)


def test_probe_reads_the_number_of_a_version() -> None:
    assert str(_facts("11.8.2-MariaDB-log").numeric_version) == "11.8.2"
    assert str(_facts("8.4.0", "mysql").numeric_version) == "8.4.0"
    assert str(_facts("8.4", "mysql").numeric_version) == "0"  # not a whole version: nothing is guessed
    assert (_facts().flavor_name, _facts("8.4.0", "mysql").flavor_name) == ("MariaDB", "MySQL")


@pytest.mark.parametrize(
    ("facts", "ranges", "problem"),
    [
        (_facts(), {"mariadb": ">=10.6", "mysql": ">=8.0"}, None),
        (
            _facts(),
            {"mariadb": ">=10.6,<10.11.6"},
            "MariaDB 10.11.6 is outside the supported range >=10.6,<10.11.6",
        ),
        (_facts(), {"mariadb": "<=10.11.6"}, None),
        (
            _facts(),
            {"mysql": ">=8.0", "percona": ">=8"},
            "MariaDB is not a supported flavor (supported: mysql, percona)",
        ),
        (
            _facts("8.0.36", "mysql"),
            {"mysql": "8.0 or newer"},
            "database.versions.mysql: '8.0 or newer' is not a version range such as '>=8.0,<8.5'",
        ),
    ],
)
def test_probe_judges_the_version_against_the_ranges(facts, ranges, problem) -> None:
    assert server_facts.version_problem(facts, ranges) == problem


@pytest.mark.parametrize(
    ("server", "system", "expected", "matches"),
    [
        ("+00:00", "CET", "UTC", True),
        ("+00:00", "CET", " utc ", True),
        ("+00:00", "CET", "Z", True),
        ("+0:00", "CET", "+00:00", True),
        ("UTC", "CET", "+00:00", True),
        ("SYSTEM", "UTC", "+00:00", True),
        ("SYSTEM", "CET", "SYSTEM", True),
        ("SYSTEM", "CET", "cet", True),
        ("SYSTEM", "CET", "UTC", False),
        ("+01:00", "UTC", "UTC", False),
        ("Europe/Berlin", "UTC", "europe/berlin", True),
    ],
)
def test_probe_compares_time_zones(server, system, expected, matches) -> None:
    assert server_facts.zone_matches(_facts(time_zone=server, system_time_zone=system), expected) is matches
