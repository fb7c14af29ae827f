"""What the commands print reads as sentences: counts agree with their nouns, columns do not
run into each other, help fits the width it was written for."""

from __future__ import annotations

import re

from runner.sandbox.target import FAULTS
from runner.suite.run import summary
from tests.conftest import deploycheck


def test_one_statement_is_a_statement(project) -> None:
    project.add("V1__one.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n")
    project.add("V2__two.sql", "CREATE TABLE u (id INT);\nCREATE TABLE v (id INT);\n")
    result = project.cli("migrate", "--no-backup")
    assert result.returncode == 0, result.stderr
    assert re.search(r"done in \d+\.\d\d s \(1 statement\)\n", result.stderr)
    assert "(2 statements)" in result.stderr and "(1 statements)" not in result.stderr


def test_list_faults_keeps_names_apart_from_descriptions() -> None:
    result = deploycheck("demo", "--list-faults")
    assert result.returncode == 0
    listed = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"  (\S+)  +(\S.*)", line)
        assert match, line
        listed[match[1]] = match[2]
    assert listed == FAULTS


def test_help_to_a_pipe_is_as_wide_as_its_descriptions() -> None:
    result = deploycheck("verify", "--help")
    options = result.stdout.split("options:", 1)[1].split("exit codes:", 1)[0]
    assert 80 < max(map(len, options.splitlines())) <= 92  # not argparse's guess of 80 columns


def test_verify_to_a_pipe_is_not_fitted_to_80_columns(tmp_path) -> None:
    (tmp_path / "app.env").write_text("A=1\n")
    (tmp_path / "p.yml").write_text("target: test\nenv: {source: 'dotenv:app.env', required: [A]}\n")
    result = deploycheck("verify", "--profile", "p.yml", "-k", "env", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = [line for line in result.stdout.splitlines() if line.startswith("=====")]
    assert rules and {len(line) for line in rules} == {120}  # runner.suite.plugin.LOG_WIDTH


def test_verbose_summary_shows_what_passed_checks_measured() -> None:
    def check(name: str, outcome: str, message: str) -> dict:
        return {"id": f"checks/test_x.py::{name}", "outcome": outcome, "message": message}

    report = {
        "outcome": "failed",
        "exit_code": 1,
        "summary": dict.fromkeys(("passed", "failed", "warned", "waived", "skipped", "errors"), 1),
        "checks": [
            check("test_version", "passed", "MariaDB 11.8.2, within >= 10.6"),
            check("test_quiet", "passed", ""),
            check("test_fresh", "failed", "newest backup is 3 days old"),
        ],
    }
    verbose = summary(report, evidence=True).splitlines()
    assert " passed checks/test_x.py::test_version: MariaDB 11.8.2, within >= 10.6" in verbose
    assert not any("test_quiet" in line for line in verbose)  # nothing measured, nothing said
    assert " failed checks/test_x.py::test_fresh: newest backup is 3 days old" in verbose
    assert "test_version" not in summary(report)  # without -v: only what needs attention
