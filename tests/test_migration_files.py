"""Migration file model: checksums agree however a file is read, versions order numerically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.migrations import files as migration_files
from runner.migrations.files import discover, version_key
from runner.migrations.placeholders import Placeholders
from runner.profile.loader import load_profile


@pytest.mark.parametrize("body", [b"", b"a", b"a\n", b"a\r\n", b"a\r\nb", b"a\r", b"x\r\ny\r\n", b"\n\n"])
def test_checksum_is_the_same_streamed_or_in_memory(tmp_path, monkeypatch, body: bytes) -> None:
    path = tmp_path / "V1__x.sql"
    path.write_bytes(body)
    in_memory = migration_files._scan(path, Placeholders({}))[0]
    monkeypatch.setattr(migration_files, "KEEP_IN_MEMORY", -1)
    assert migration_files._scan(path, Placeholders({}))[0] == in_memory


def test_large_file_is_not_kept_in_memory_and_still_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(migration_files, "KEEP_IN_MEMORY", 10)
    (tmp_path / "V1__big.sql").write_text("SELECT '${unknown}';\n" * 5)
    with pytest.raises(migration_files.MigrationFileError, match=r"unknown placeholder \$\{unknown\}"):
        discover(tmp_path, "flyway")
    (tmp_path / "V1__big.sql").write_text("SELECT 1;\n" * 5)
    (migration,) = discover(tmp_path, "flyway").migrations
    assert migration.content is None


def test_version_keys_order_numerically_and_ignore_trailing_zeros() -> None:
    assert sorted(["10", "9", "1.10", "1.2"], key=version_key) == ["1.2", "1.10", "9", "10"]
    assert version_key("1.0.0") == version_key("1") == version_key("001")


def test_example_profiles_validate(tmp_path, monkeypatch) -> None:
    """The annotated examples in profiles/ stay valid as the profile model grows."""
    secret = tmp_path / "secret"
    secret.write_text("x")
    monkeypatch.setenv("MYSQL_PASSWORD", "x")
    (tmp_path / "migrations").mkdir()  # as in the repository: profiles/ beside migrations/
    (tmp_path / "profiles").mkdir()
    for path in sorted((Path(__file__).parent.parent / "profiles").glob("*.example.yml")):
        text = re.sub(r"/run/secrets/\w+", str(secret), path.read_text())
        copy = tmp_path / "profiles" / path.name
        copy.write_text(text)
        assert load_profile(str(copy)).name == path.stem
