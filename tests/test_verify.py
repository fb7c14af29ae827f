"""`deploycheck verify` end to end: the archive, report.json against its schema, exit codes,
severity overrides, waivers, an interrupted run, and no secret in any byte written."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest

from runner.report.model import SCHEMA_PATH
from runner.suite.policy import judge_failure
from tests.conftest import CHECKS

pytestmark = pytest.mark.slow


def verify(target, reports: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "verify",
            "--profile",
            str(target.profile_path),
            "--reports",
            str(reports),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=target.root,
    )


def runs(reports: Path, profile: str = "profile") -> list[Path]:
    return sorted(p for p in (reports / profile).iterdir() if p.is_dir())


def load_report(run_dir: Path) -> dict:
    report = json.loads((run_dir / "report.json").read_text())
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    return report


@pytest.fixture()
def healthy(target):
    target.add("V1__t.sql", "CREATE TABLE gene (id INT PRIMARY KEY);\n")
    target.migrate()
    target.write_profile(database={"required_tables": ["gene"]})
    return target


def test_passing_and_failing_runs_are_archived_with_history(healthy, tmp_path) -> None:
    reports = tmp_path / "reports"
    first = verify(healthy, reports)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "deploycheck verify: PASSED (exit 0)" in first.stdout
    healthy.add("V2__new.sql", "SELECT 1;")
    second = verify(healthy, reports)
    assert second.returncode == 1

    archived = runs(reports)
    assert len(archived) == 2
    for run_dir in archived:
        assert {p.name for p in run_dir.iterdir()} == {
            "report.html",
            "details.html",
            "report.json",
            "junit.xml",
        }
    passed, failed = (load_report(d) for d in archived)
    assert (passed["outcome"], passed["exit_code"]) == ("passed", 0)
    assert (failed["outcome"], failed["exit_code"], failed["summary"]["failed"]) == ("failed", 1, 1)
    assert [c["id"] for c in passed["checks"]] == [c["id"] for c in failed["checks"]]  # ids are stable
    assert "checks/test_migrations.py::test_nothing_pending" in [c["id"] for c in failed["checks"]]

    history = [json.loads(line) for line in (reports / "profile" / "history.jsonl").read_text().splitlines()]
    assert [h["outcome"] for h in history] == ["passed", "failed"]
    assert history[1]["attention"] == [
        {"id": "checks/test_migrations.py::test_nothing_pending", "outcome": "failed"}
    ]
    index = (reports / "profile" / "index.html").read_text()
    assert index.count("report.html") == 2 and index.index(archived[1].name) < index.index(archived[0].name)
    assert '<span class="failed">failed</span> test_nothing_pending' in index  # what broke, at a glance

    html = (archived[1] / "report.html").read_text()
    assert "Gate: FAILED (exit 1): 1 blocker(s): test_nothing_pending" in html
    assert html.index("Gate: FAILED") < html.index("Needs attention") < html.index("test_ledger_exists")
    assert "V2__new.sql" in html and "XFailed" not in html
    # a skipped check shows its reason, not pytest's (file, line, reason) tuple
    assert "smtp not configured in profile profile" in html and "test_smtp.py'" not in html
    details = (archived[1] / "details.html").read_text()  # pytest-html's page, linked from the report
    assert "&#34;log&#34;: &#34;Skipped: smtp not configured in profile profile" in details
    assert "test_smtp.py&amp;#x27;, " not in details and 'href="details.html"' in html
    junit = (archived[1] / "junit.xml").read_text()
    assert 'name="test_nothing_pending"' in junit and "<failure" in junit


def test_bad_profile_exits_2_naming_file_and_key(healthy, tmp_path) -> None:
    healthy.write_profile(database={"port": "many"})
    result = verify(healthy, tmp_path / "reports")
    assert result.returncode == 2
    assert f"{healthy.profile_path}: database.port: Input should be a valid integer" in result.stderr


@pytest.mark.parametrize("profile_args", [[], ["--deploy-profile", "no-such-profile"]])
def test_pytest_checks_without_a_usable_profile_exits_2(profile_args, monkeypatch) -> None:
    monkeypatch.delenv("DEPLOYCHECK_PROFILE", raising=False)
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", *profile_args],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
    )
    assert result.returncode == 2
    expected = "no profile given" if not profile_args else "profile 'no-such-profile' not found"
    assert expected in result.stdout + result.stderr


def test_unreachable_target_exits_3_with_a_report(healthy, tmp_path) -> None:
    healthy.write_profile(database={"socket": str(tmp_path / "gone.sock")})
    result = verify(healthy, tmp_path / "reports")
    assert result.returncode == 3
    report = load_report(runs(tmp_path / "reports")[0])
    assert (report["outcome"], report["exit_code"], report["unreachable"]) == ("error", 3, ["database"])
    index = (tmp_path / "reports" / "profile" / "index.html").read_text()
    assert "error: target unreachable: database" in index
    (line,) = (tmp_path / "reports" / "profile" / "history.jsonl").read_text().splitlines()
    assert json.loads(line)["reason"] == "target unreachable: database"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-k", "nomatch"],
            "deploycheck: no check selected by -k nomatch: a run that checks nothing is not a pass",
        ),
        (["--bogus-option"], "unrecognized arguments: --bogus-option"),
    ],
)
def test_a_run_that_checks_nothing_exits_2_and_archives_nothing(healthy, tmp_path, args, expected) -> None:
    result = verify(healthy, tmp_path / "reports", *args)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert expected in result.stdout + result.stderr
    assert "no run was archived" in result.stdout
    assert [p.name for p in (tmp_path / "reports" / "profile").iterdir()] == []  # no folder, hidden or not
    for noise in ("pytest exit", ".run-", "Generated html report", "generated xml file"):
        assert noise not in result.stdout + result.stderr


def test_a_run_where_every_check_skipped_exits_2_naming_what_was_missing(healthy, tmp_path) -> None:
    """A profile that configures nothing: every check skips, which is no verdict at all."""
    healthy.profile_path.write_text("target: test\n")
    result = verify(healthy, tmp_path / "reports")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(
        r"no check ran to a verdict \(all \d+ skipped\): a run that checks nothing is not a pass\n",
        result.stdout,
    )
    for missing in ("database not configured in profile profile", "smtp not configured in profile profile"):
        assert f"\n  {missing}\n" in result.stdout
    assert "no run was archived" in result.stdout and "PASSED" not in result.stdout
    assert [p.name for p in (tmp_path / "reports" / "profile").iterdir()] == []


@pytest.fixture()
def with_env(healthy):
    (healthy.root / "app.env").write_text("APP_MODE=production\n")
    healthy.write_profile(env={"source": "dotenv:app.env", "required": ["APP_MODE"]})
    return healthy


def test_k_matches_the_checks_names_not_the_folders_they_live_in(with_env, tmp_path) -> None:
    """Node ids are relative to the checks folder: -k env selects the env checks, -k "not smtp"
    leaves out the SMTP checks only, and a word of the checkout's path selects nothing."""
    reports = tmp_path / "reports"
    env = verify(with_env, reports, "-k", "env")
    assert env.returncode == 0, env.stdout[-2000:] + env.stderr[-2000:]
    assert {c["area"] for c in load_report(runs(reports)[-1])["checks"]} == {"env"}
    for noise in ("rootdir:", "configfile:", "Generated html report", "generated xml file", ".run-"):
        assert noise not in env.stdout + env.stderr
    (shown,) = [line for line in env.stdout.splitlines() if "report.html" in line]
    assert shown.startswith(f"report: {runs(reports)[-1] / 'report.html'}")  # the archived path, once

    verbose = verify(with_env, reports, "-k", "env", "-v")
    assert "\ntest_env.py::test_required_variables_are_set PASSED" in verbose.stdout
    assert "../" not in verbose.stdout and str(CHECKS) not in verbose.stdout

    everything = verify(with_env, reports, "-k", f"not smtp and not {CHECKS.parent.name}")
    assert everything.returncode == 0, everything.stdout[-2000:] + everything.stderr[-2000:]
    areas = [c["area"] for c in load_report(runs(reports)[-1])["checks"]]
    assert "smtp" not in areas and {"env", "database", "migrations", "tls", "http"} <= set(areas)


def test_severity_override_turns_a_blocker_into_a_warning(healthy, tmp_path) -> None:
    healthy.add("V2__new.sql", "SELECT 1;")
    healthy.write_profile(checks={"severity": {"test_nothing_pending": "warning"}})
    result = verify(healthy, tmp_path / "reports")
    assert result.returncode == 0
    report = load_report(runs(tmp_path / "reports")[0])
    check = next(c for c in report["checks"] if c["id"].endswith("test_nothing_pending"))
    assert (check["severity"], check["outcome"]) == ("warning", "warned")
    assert verify(healthy, tmp_path / "reports", "--strict").returncode == 1


def test_waiver_holds_until_its_date_then_the_failure_counts_again(healthy, tmp_path) -> None:
    healthy.add("V2__new.sql", "SELECT 1;")
    until = (date.today() + timedelta(days=7)).isoformat()
    healthy.write_profile(
        checks={"waivers": [{"id": "test_nothing_pending", "reason": "ships with 2.1", "until": until}]}
    )
    assert verify(healthy, tmp_path / "reports").returncode == 0
    check = next(
        c
        for c in load_report(runs(tmp_path / "reports")[0])["checks"]
        if c["id"].endswith("::test_nothing_pending")
    )
    assert check["outcome"] == "waived" and f"waived until {until}: ships with 2.1" in check["message"]

    expired = (date.today() - timedelta(days=1)).isoformat()
    healthy.write_profile(
        checks={"waivers": [{"id": "test_nothing_pending", "reason": "ships with 2.1", "until": expired}]}
    )
    assert verify(healthy, tmp_path / "reports").returncode == 1
    check = next(
        c
        for c in load_report(runs(tmp_path / "reports")[1])["checks"]
        if c["id"].endswith("::test_nothing_pending")
    )
    assert (
        check["outcome"] == "failed" and f"the waiver for this check expired on {expired}" in check["message"]
    )


def test_interrupted_run_still_writes_its_report(healthy, tmp_path) -> None:
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(4)
        healthy.write_profile(
            http=[{"url": f"http://127.0.0.1:{blackhole.getsockname()[1]}/"}], timeouts={"default_s": 60}
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "verify",
                "--profile",
                str(healthy.profile_path),
                "--reports",
                str(tmp_path / "reports"),
                "-k",
                "test_http",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=healthy.root,
        )
        blackhole.settimeout(60)
        waiting, _ = blackhole.accept()  # the check is waiting for its endpoint: interrupt it there
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
        waiting.close()
    assert proc.returncode == 130, out + err  # interrupted, as every command; the report says exit 1
    (run_dir,) = runs(tmp_path / "reports")
    report = load_report(run_dir)
    assert report["interrupted"] is True and report["outcome"] == "error"
    (not_run,) = report["not_run"]  # interrupted while it waited for its endpoint
    assert not_run.startswith("checks/test_http.py::test_endpoint_answers[")
    html = (run_dir / "report.html").read_text()
    assert "Gate: ERROR (exit 1): interrupted" in html and "Not run (1)" in html
    index = (tmp_path / "reports" / "profile" / "index.html").read_text()
    assert "error: interrupted" in index


SECRETS = {
    "db": "Sup3r-Secret-Db-Pass",
    "env_password": 'Env-"Passw0rd"\\-Välue-(42)+',  # a quote, a backslash, non-ASCII, regex
    "token": "tok_live_8f7e6d5c4b3a",
    "url_token": "QueryTokenValue991",
}


def test_no_secret_reaches_any_byte_written(target, tmp_path) -> None:
    """Failing checks whose tracebacks show the profile and the environment, with the secrets
    in the profile, a .env file and a URL; then every file and every line of output is searched."""
    with target.server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SET PASSWORD FOR '{target.user}'@'localhost' = PASSWORD(%s)", (SECRETS["db"],))
    (tmp_path / "db_password").write_text(SECRETS["db"] + "\n")
    dotenv = tmp_path / "app.env"
    dotenv.write_text(
        f"DB_PASSWORD={SECRETS['env_password']}\nAPI_TOKEN={SECRETS['token']}\nSECRET_KEY=changeme\n"
    )
    target.add("V1__t.sql", "SELECT 1;")
    profile = target.write_profile(
        database={
            "password": None,
            "password_file": str(tmp_path / "db_password"),
            "required_tables": ["nope"],
        },
        env={
            "source": f"dotenv:{dotenv}",
            "required": ["DB_PASSWORD", "API_TOKEN", "SECRET_KEY", "MISSING"],
            "forbid": {"DB_PASSWORD": [SECRETS["env_password"]]},
        },
        http=[{"url": f"http://127.0.0.1:9/health?token={SECRETS['url_token']}"}],
    )
    data = json.loads(json.dumps(target.data))
    data["database"].pop("password")
    profile.write_text(__import__("yaml").safe_dump(data))

    reports = tmp_path / "reports"
    result = verify(target, reports, "--tb=long", "-l")
    pytest_direct = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(Path(__file__).parent.parent / "checks"),
            "-p",
            "no:cacheprovider",
            "--deploy-profile",
            str(profile),
            "--tb=long",
            "-l",
            "-v",
            "--junitxml",
            str(tmp_path / "direct.xml"),
            "--html",
            str(tmp_path / "direct.html"),
            "--self-contained-html",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 1 and pytest_direct.returncode == 1
    written = [
        p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".html", ".json", ".xml", ".jsonl")
    ]
    assert len(written) >= 7
    haystacks = {str(p): p.read_bytes() for p in written}
    haystacks.update(
        verify_out=(result.stdout + result.stderr).encode(),
        pytest_out=(pytest_direct.stdout + pytest_direct.stderr).encode(),
    )
    leaks = [
        (where, name)
        for where, data in haystacks.items()
        for name, secret in SECRETS.items()
        for form in {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        | {html.escape(secret), html.escape(secret, quote=False)}
        if form.encode() in data
    ]
    assert leaks == []
    assert b"********" in haystacks["pytest_out"]  # the tracebacks did try to show them


def verify_alone(profile: Path, reports: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`deploycheck verify` of a profile that needs no target, with `env` added."""
    return subprocess.run(
        [sys.executable, "-m", "runner", "verify", "--profile", str(profile), "--reports", str(reports)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_a_secret_in_an_http_urls_path_is_not_in_its_check_id(tmp_path) -> None:
    """An unnamed http check is named by its URL's path, which may hold a token: junit.xml and
    details.html write the check's id as pytest has it."""
    token = "Tk-Path-Secret-5a5a"
    profile = tmp_path / "ids.yml"
    profile.write_text("target: t\nhttp:\n  - url: https://127.0.0.1:9/health/${HEALTH_TOKEN}/x\n")
    result = verify_alone(profile, tmp_path / "r", HEALTH_TOKEN=token)
    assert result.returncode == 1 and "health/********/x" in result.stdout, result.stdout + result.stderr
    (run,) = runs(tmp_path / "r", "ids")
    for path in [*run.iterdir(), *(tmp_path / "r" / "ids").glob("*.*")]:
        assert token not in path.read_text(), path.name


@pytest.mark.parametrize("secret", ["pass", "fail", "blocker"])
def test_a_secret_that_is_part_of_the_reports_own_words_does_not_break_it(tmp_path, secret) -> None:
    """`DB_PASSWORD=pass` is common in a dev stack: the report's outcomes, severities and summary
    keys are the schema's words, not text, and must stay readable (masked, `passed` became
    `********ed` and verify ended in a KeyError)."""
    profile = tmp_path / "words.yml"
    profile.write_text("target: t\nhttp:\n  - url: https://127.0.0.1:9/health\n")
    result = verify_alone(profile, tmp_path / "r", API_KEY=secret)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert "deploycheck verify: FAILED (exit 1)" in result.stdout
    (run,) = runs(tmp_path / "r", "words")
    report = load_report(run)
    assert report["outcome"] == "failed" and report["summary"]["failed"] == 1
    http = [(c["area"], c["outcome"], c["severity"]) for c in report["checks"] if "127.0.0.1" in c["id"]]
    assert http == [("http", "failed", "blocker")]


def test_the_terminal_names_what_broke_in_words(healthy, tmp_path) -> None:
    healthy.add("V2__new.sql", "SELECT 1;")
    result = verify(healthy, tmp_path / "reports", "-k", "test_migrations")
    lines = result.stdout.splitlines()
    assert (
        " failed checks/test_migrations.py::test_nothing_pending: pending migrations (run `deploycheck migrate`):"
        in lines
    )
    assert any(line.strip() == "V2__new.sql" for line in lines)
    assert any(
        line.startswith("deploycheck verify: FAILED (exit 1): blocked by test_nothing_pending - ")
        for line in lines
    )
    for noise in ("Row(state=", "assert not", "short test summary"):
        assert noise not in result.stdout
    assert not re.search(r"\.py:\d+", result.stdout)  # no code locations
    quiet = verify(healthy, tmp_path / "reports", "-k", "test_migrations", "--quiet")
    verdict, report = [line for line in quiet.stdout.splitlines() if line]
    assert verdict.startswith("deploycheck verify: FAILED (exit 1): blocked by test_nothing_pending - ")
    assert report.startswith("report: ")


def test_the_report_groups_a_shared_cause_and_draws_its_charts(target, tmp_path) -> None:
    """A refused login fails every database check with one message: shown once, with the checks
    it blocked. A run's backups chart has axes and the max_size_drop line."""
    target.add("V1__t.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n")
    target.migrate()
    folder = tmp_path / "backup"
    folder.mkdir()
    for day, size in ((20, 3000), (21, 3100), (22, 3050), (23, 900)):
        (folder / f"202611{day}0300.app.sql.gz").write_bytes(b"\x1f\x8b" + b"\0" * size)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target.write_profile(
        database={"password": "wrong-password-here"},
        backups={"source": str(folder), "databases": ["app"]},
        smtp={"host": "127.0.0.1", "port": port},
        tls={"endpoints": [f"127.0.0.1:{port}"]},
    )
    reports = tmp_path / "reports"
    result = verify(target, reports, "-k", "test_database or test_backup_size or test_smtp or test_tls")
    assert result.returncode == 3
    verdict = "ERROR (exit 3): target unreachable: database, SMTP, TLS"  # every area, not the first
    assert f"deploycheck verify: {verdict} - " in result.stdout
    assert result.stdout.count("Access denied for user") == 1  # the terminal says the cause once too
    (blocked,) = [line.strip() for line in result.stdout.splitlines() if "test_database_is_reachable" in line]
    assert blocked.startswith("checks: test_database.py::test_database_is_reachable, test_database.py::")
    assert re.search(r"^  error \d+ checks: cannot connect to .*Access denied", result.stdout, re.M)
    html = (runs(reports)[0] / "report.html").read_text()
    assert f"Gate: {verdict}" in html
    assert html.count("Access denied for user") == 1  # one cause, not one line per check
    assert '<td class="error">error</td><td><pre>cannot connect to' in html  # an error, not "failed"
    assert (
        "checks: test_database.py::test_database_is_reachable, test_database.py::test_server_version_is_supported"
        in html
    )
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and "fails below 1.5 kB" in html


@pytest.mark.parametrize("marker", ['severity("blocekr")', "severity()", 'severity("warning", "info")'])
def test_a_check_marked_with_no_level_errs_naming_it(pytester, tmp_path, marker) -> None:
    """A misspelt level would have made every failure of the check a warning (exit 0)."""
    pytester.makepyfile(
        test_misspelt=f"import pytest\n\n@pytest.mark.{marker}\ndef test_x():\n    assert False\n"
    )
    profile = tmp_path / "p.yml"
    profile.write_text("target: test\n")
    args = (
        "-p",
        "runner.suite.plugin",
        "--deploy-profile",
        str(profile),
        "--deploy-report-dir",
        str(tmp_path),
    )
    result = pytester.runpytest_inprocess("-c", os.devnull, *args)
    (check,) = json.loads((tmp_path / "report.json").read_text())["checks"]
    assert (result.ret, check["outcome"]) == (1, "error"), result.stdout.str()
    assert check["message"].startswith("the check is marked severity(") and check["message"].endswith(
        "must use one of blocker, warning, info"
    ), check["message"]


def test_a_failure_of_a_level_that_is_none_fails() -> None:
    judged = judge_failure("blocekr", None, "boom", date(2026, 1, 1))
    assert (judged.outcome, judged.blocks) == ("failed", True)
