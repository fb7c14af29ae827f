"""`deploycheck lint`: a corpus of migrations, one file per finding kind plus clean ones, each
with its expected findings on its first line; acknowledgements; exit codes; and the ALGORITHM
the server accepts, asked of a scratch copy of a real target."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from runner.migrations.files import discover
from runner.migrations.lint import lint
from tests.conftest import confined_scratch

CORPUS = Path(__file__).parent / "lint_corpus"


def _expected(path: Path) -> list[tuple[str, int]]:
    """`-- expect: rule:line rule:line` (or none) on the file's first line."""
    return [
        (rule, int(line)) for rule, line in re.findall(r"([a-z-]+):(\d+)", path.read_text().splitlines()[0])
    ]


def test_each_corpus_file_gives_exactly_its_findings() -> None:
    migrations = discover(CORPUS, "flyway")
    findings = lint(migrations, migrations.migrations)
    assert len(migrations.migrations) == len(list(CORPUS.glob("*.sql")))
    for migration in migrations.migrations:
        got = sorted((f.rule, f.line) for f in findings if f.file == migration.filename)
        want = sorted(_expected(migration.path))
        assert got == want, migration.filename


def test_an_acknowledged_finding_keeps_its_reason_and_does_not_block() -> None:
    migrations = discover(CORPUS, "flyway")
    (finding,) = [f for f in lint(migrations, migrations.migrations) if f.file == "V12__acknowledged.sql"]
    assert finding.acknowledged == "column unused since 2.3" and not finding.blocks
    assert finding.to_dict()["acknowledged"] is True


def test_severities_and_messages_name_the_object() -> None:
    migrations = discover(CORPUS, "flyway")
    findings = {(f.file, f.rule, f.line): f for f in lint(migrations, migrations.migrations)}
    narrowing = findings[("V6__narrow.sql", "narrowing-type", 2)]
    assert (
        narrowing.severity == "blocker"
        and "gene.symbol from varchar(255) to varchar(100)" in narrowing.message
    )
    assert findings[("V9__rename.sql", "rename", 2)].severity == "warning"
    assert findings[("V11__not_idempotent.sql", "not-idempotent", 2)].severity == "info"


def _project_with(project, files: list[str]) -> None:
    for name in files:
        shutil.copy(CORPUS / name, project.migrations / name)


def test_lint_exits_1_on_a_blocker_and_0_without(project) -> None:
    project.write_profile(database=None)  # no database: every file, offline
    _project_with(project, ["V1__clean_base.sql", "V1_1__clean_entity.sql", "V7__widen_clean.sql"])
    clean = project.cli("lint", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["findings"] == []
    _project_with(project, ["V3__drop_column.sql"])
    result = project.cli("lint", "--json")
    assert result.returncode == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding == {
        "file": "V3__drop_column.sql",
        "line": 2,
        "rule": "drop-column",
        "severity": "blocker",
        "message": "drops column entity.status and its data",
        "acknowledged": False,
        "reason": None,
    }


@pytest.mark.slow
def test_pending_alters_are_tried_on_a_scratch_copy_for_their_algorithm(project) -> None:
    project.add(
        "V1__base.sql", "CREATE TABLE IF NOT EXISTS big (id INT PRIMARY KEY, n INT, note VARCHAR(64));\n"
    )
    project.migrator().migrate()
    project.query("INSERT INTO big VALUES (1, 1, 'a'), (2, 2, 'b')")
    project.add("V2__add_column.sql", "ALTER TABLE big ADD COLUMN extra INT NULL;\n")  # INSTANT
    project.add("V3__retype.sql", "ALTER TABLE big MODIFY n BIGINT;\n")  # the table is rebuilt
    project.write_profile(scratch=confined_scratch(project.server, f"scratch_{project.database}_"))
    result = project.cli("lint", "--json")
    findings = json.loads(result.stdout)["findings"]
    assert [(f["file"], f["rule"]) for f in findings] == [("V3__retype.sql", "copy-algorithm")], result.stderr
    assert "only with ALGORITHM=COPY: the table is rebuilt" in findings[0]["message"]
    assert result.returncode == 0  # a warning
    assert not [n for (n,) in project.query("SHOW DATABASES") if n.startswith("scratch_")]
    assert project.migrator().status().pending  # nothing applied to the target


def test_dry_run_shows_the_findings(project) -> None:
    _project_with(project, ["V1__clean_base.sql", "V3__drop_column.sql"])
    shutil.copy(CORPUS / "V1_1__clean_entity.sql", project.migrations)
    result = project.cli("migrate", "--dry-run")
    assert "-- LINT line 2: drop-column (blocker): drops column entity.status and its data" in result.stdout


def test_the_check_fails_on_a_pending_blocker(target, run_checks) -> None:
    _project_with(target, ["V1__clean_base.sql", "V1_1__clean_entity.sql"])
    target.migrate()
    _project_with(target, ["V3__drop_column.sql"])
    check = run_checks(target.profile_path, "-k", "lint").check("test_pending_migrations_pass_lint")
    assert check["outcome"] == "failed" and check["message"].startswith(
        "pending migrations that would lose data (see `deploycheck lint`):\n    V3__drop_column.sql:2: drop-column"
    )
    assert [f["rule"] for f in check["details"]["lint"]] == ["drop-column"]


def test_lint_judges_a_file_outside_migrations_dir_as_the_next_version(project, tmp_path) -> None:
    """A new migration in a pull request, not yet moved in: its types come from the folder's."""
    project.write_profile(database=None)
    _project_with(project, ["V1__clean_base.sql", "V7__widen_clean.sql"])
    incoming = tmp_path / "pr" / "narrow gene.sql"  # any name, any place
    incoming.parent.mkdir()
    incoming.write_text("ALTER TABLE gene MODIFY symbol VARCHAR(100) NOT NULL;\n")
    result = project.cli("lint", "--json", str(incoming))
    assert result.returncode == 1, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["file"] == str(incoming) and finding["rule"] == "narrowing-type"
    assert "gene.symbol from varchar(300) to varchar(100)" in finding["message"]  # after V7 widened it
    by_name = project.cli("lint", "--json", "V7__widen_clean.sql")  # a name in migrations.dir still works
    assert by_name.returncode == 0 and json.loads(by_name.stdout)["findings"] == []
    missing = project.cli("lint", str(tmp_path / "pr" / "nope.sql"))
    assert (
        missing.returncode == 2
        and "nope.sql: no such file, and no migration of that name in" in missing.stderr
    )
    text = tmp_path / "pr" / "notes.txt"
    text.write_text("DROP TABLE gene;\n")
    refused = project.cli("lint", str(text))
    assert refused.returncode == 2 and "notes.txt: not a .sql file" in refused.stderr
