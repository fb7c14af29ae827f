"""Rehearsal: pending migrations run first on a scratch copy of production's schema; one that
would fail on production (drift, data) fails there and the target is left untouched; one that
passes is then applied for real."""

from __future__ import annotations

import pytest

from runner.migrations.rehearsal import Altered, Rehearsed, timing_note
from tests.conftest import confined_scratch

pytestmark = pytest.mark.slow

BASE = """\
CREATE TABLE gene (id INT PRIMARY KEY, symbol VARCHAR(32) NOT NULL, note TEXT NULL);
CREATE VIEW gene_symbols AS SELECT id, symbol FROM gene;
DELIMITER //
CREATE PROCEDURE gene_count() BEGIN SELECT COUNT(*) FROM gene; END //
CREATE TRIGGER gene_bi BEFORE INSERT ON gene FOR EACH ROW SET NEW.symbol = UPPER(NEW.symbol) //
DELIMITER ;
INSERT INTO gene VALUES (1, 'arid1b', NULL), (2, 'scn2a', NULL), (3, 'scn2a', 'a second entry');
"""


@pytest.fixture()
def production(project):
    """A migrated database whose migrate user is the admin; the session server doubles as the
    team's scratch server."""
    project.add("V1__base.sql", BASE)
    project.migrator().migrate()
    project.write_profile(scratch=confined_scratch(project.server, f"scratch_{project.database}_"))
    return project


def _scratch_left(project) -> list[str]:
    return [n for (n,) in project.query("SHOW DATABASES") if n.startswith("scratch_")]


def test_a_migration_that_meets_drift_fails_the_rehearsal_and_the_target_is_untouched(production) -> None:
    production.query("ALTER TABLE gene DROP COLUMN note")  # dropped by hand: drift
    production.add("V2__note_length.sql", "ALTER TABLE gene MODIFY note VARCHAR(200) NULL;\n")
    result = production.cli("migrate", "--rehearse")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "FAILED  V2__note_length.sql: V2__note_length.sql statement 1 (line 1) failed: (1054) Unknown column 'note'"
        in result.stdout
    )
    assert "a copy of 1 tables, 1 views, 1 procedures, 1 triggers" in result.stdout
    assert [m.filename for m in production.migrator().status().pending] == ["V2__note_length.sql"]
    assert _scratch_left(production) == []


def test_rehearse_true_applies_only_after_a_passing_rehearsal(production) -> None:
    production.add("V2__alias.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\n")
    production.add(
        "V3__procedure.sql", "DROP PROCEDURE gene_count;\nCREATE PROCEDURE gene_count() SELECT 1;\n"
    )
    production.write_profile(migrations={"rehearse": True})
    result = production.cli("migrate", "--no-backup")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "applied V2__alias.sql in" in result.stdout and "applied V3__procedure.sql in" in result.stdout
    assert "rehearse: passed" in result.stdout
    assert production.migrator().status().is_clean
    assert ("alias",) in production.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE()"
    )


def test_rehearse_true_refuses_to_migrate_after_a_failed_rehearsal(production) -> None:
    production.add(
        "V2__broken.sql", "ALTER TABLE gene ADD COLUMN alias VARCHAR(32) NULL;\nALTER TABLE nope ADD x INT;\n"
    )
    production.write_profile(migrations={"rehearse": True})
    result = production.cli("migrate", "--no-backup")
    assert result.returncode == 1
    assert "the rehearsal on the scratch server failed (above): nothing was applied" in result.stderr
    assert "alias" not in str(production.query("SHOW COLUMNS FROM gene"))  # the target never saw V2
    assert _scratch_left(production) == []


def test_sample_rows_let_a_rehearsal_meet_production_data(production) -> None:
    production.add("V2__unique_symbol.sql", "ALTER TABLE gene ADD UNIQUE INDEX uq_symbol (symbol);\n")
    structure_only = production.cli("migrate", "--rehearse")
    assert structure_only.returncode == 0 and "applied V2__unique_symbol.sql" in structure_only.stdout
    production.write_profile(rehearse={"sample_rows": 100})
    with_rows = production.cli("migrate", "--rehearse")
    assert with_rows.returncode == 1
    assert "V2__unique_symbol.sql statement 1 (line 1) failed: (1062) Duplicate entry '…'" in with_rows.stdout
    assert "SCN2A" not in with_rows.stdout + with_rows.stderr  # a row value never reaches the output
    assert production.migrator().status().pending  # still pending on the target


def test_the_timing_note_says_what_each_algorithm_means_for_writes() -> None:
    """A COPY's time is how long production's writes wait; an online ALTER's is not."""

    def note(*algorithms: str | None) -> str:
        altered = [Altered("t", algorithm) for algorithm in algorithms]
        return timing_note(
            "the scratch server (11.4.4-MariaDB)", [Rehearsed("V2__t.sql", True, 1.0, altered=altered)]
        )

    online = note("INSTANT", "NOCOPY", "INPLACE")
    assert "INSTANT changes only metadata" in online
    assert "NOCOPY changes it online" in online and "INPLACE rebuilds it online" in online
    assert "lock" not in online.replace("metadata locks", "")
    assert "COPY locks the table for writes about that long" in note("COPY", "INSTANT")
    assert "COPY" not in note("INSTANT")
    assert "not known may lock its table for writes" in note(None)
    assert note().endswith("read the times as an order of magnitude")  # no ALTER: nothing about algorithms
    assert note().startswith("measured on the scratch server (11.4.4-MariaDB): ")
