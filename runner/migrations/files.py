"""What a migration is: files in `migrations.dir`, their versions, checksums and verify blocks.

Everything here is checked before the database is touched: names that match no
style, duplicate versions, files that are not UTF-8, unknown `${placeholders}` and
placeholder values their mode cannot carry are all reported together, naming every
offending file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.errors import MigrationFileError, UsageError
from runner.migrations.placeholders import Placeholders
from runner.migrations.sqlsplit import Quoting, Statement, split_lines

VERIFY_SUFFIX = ".verify.sql"
KEEP_IN_MEMORY = 1 << 20  # bytes; larger migrations are streamed from disk

NAMING_STYLES: dict[str, re.Pattern[str]] = {
    # V1__init.sql, V1.2__x.sql, V1_2__x.sql
    "flyway": re.compile(r"^V(?P<version>\d+(?:[._]\d+)*)__(?P<description>.+)\.sql$"),
    # 000_initialize_base_schema.sql
    "numbered": re.compile(r"^(?P<version>\d+)_(?P<description>.+)\.sql$"),
    # V20260129_120000__x.sql
    "timestamp": re.compile(r"^V(?P<version>\d{8}[_.]?\d{6})__(?P<description>.+)\.sql$"),
}
NAMING_EXAMPLES = {
    "flyway": "V1__create_users.sql or V1.2__add_index.sql",
    "numbered": "001_create_users.sql",
    "timestamp": "V20260129_120000__create_users.sql",
}


def version_key(version: str) -> tuple[int, ...]:
    """Numeric ordering key: V10 after V9, and 1.0 the same version as 1."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def parse_name(filename: str, naming: str) -> tuple[str, str] | None:
    """(version, description) of a migration file name in the `naming` style, or None."""
    match = NAMING_STYLES[naming].match(filename)
    if match is None:
        return None
    version = match.group("version")
    shown = version.replace("_", ".") if naming == "flyway" else version
    return shown, match.group("description").replace("_", " ")


@dataclass(frozen=True)
class Migration:
    """One migration file; `checksum` is SHA-256 of its content with CRLF read as LF."""

    version: str
    description: str
    filename: str
    path: Path
    checksum: str
    verify_path: Path | None = None
    content: bytes | None = field(default=None, repr=False, compare=False)
    """The bytes that were checksummed, kept for small files so that what runs is what was hashed."""

    @property
    def key(self) -> tuple[int, ...]:
        return version_key(self.version)


@dataclass(frozen=True)
class MigrationSet:
    """The migrations of a directory in apply order, with the placeholders they use."""

    directory: Path
    naming: str
    migrations: tuple[Migration, ...]
    placeholders: Placeholders

    def find(self, version: str) -> Migration:
        """The migration whose version is `version` (`V3`, `3`, `003` and `3.0` are the same)."""
        try:
            wanted = version_key(version.lstrip("Vv"))
        except ValueError:
            raise UsageError(
                f"{version!r} is not a version (expected e.g. 3, 1.2 or 20260129.120000)"
            ) from None
        for migration in self.migrations:
            if migration.key == wanted:
                return migration
        raise UsageError(f"no migration with version {version} in {self.directory}")

    def statements(
        self, migration: Migration, quoting: Callable[[], Quoting] = Quoting
    ) -> Iterator[Statement]:
        """The statements of `migration`, placeholders replaced, streamed line by line; `quoting`
        tells the splitter what the server reports (see sqlsplit.Splitter)."""
        lines = self._lines(migration.path, migration.content)
        return self.placeholders.substituted(
            lambda asked: split_lines(lines, migration.filename, asked), quoting, migration.filename
        )

    def verify_statements(
        self, migration: Migration, quoting: Callable[[], Quoting] = Quoting
    ) -> Iterator[Statement]:
        if migration.verify_path is None:
            return iter(())
        name, lines = migration.verify_path.name, self._lines(migration.verify_path)
        return self.placeholders.substituted(lambda asked: split_lines(lines, name, asked), quoting, name)

    def shown(self) -> MigrationSet:
        """The same migrations, secret placeholder values masked: for a dry run to print."""
        return replace(self, placeholders=self.placeholders.shown())

    @staticmethod
    def _lines(path: Path, content: bytes | None = None) -> Iterator[str]:
        for lineno, raw in enumerate(_raw_lines(path, content), 1):
            yield _decode(raw, path, lineno)


def _raw_lines(path: Path, content: bytes | None = None) -> Iterator[bytes]:
    """Lines without their line end: LF, or CR LF, as the mysql client reads them (it drops
    the CR also inside a string literal or a routine body spanning lines)."""
    with io.BytesIO(content) if content is not None else path.open("rb") as handle:
        for raw in handle:
            yield raw[:-2] if raw.endswith(b"\r\n") else raw.removesuffix(b"\n")


def _decode(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigrationFileError(
            f"{path.name}:{lineno}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
            "save the file as UTF-8"
        ) from None


def _scan(path: Path, placeholders: Placeholders) -> tuple[str, list[str], bytes | None]:
    """Checksum a file and list its problems (encoding, unknown placeholders) in one read.

    Small files are checked as one buffer (status must be fast for 1,000 files); large
    ones, and any file that is not UTF-8 (to find the line), line by line."""
    content = path.read_bytes() if path.stat().st_size <= KEEP_IN_MEMORY else None
    if content is not None:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            normalized = content.replace(b"\r\n", b"\n")
            if normalized and not normalized.endswith(b"\n"):
                normalized = normalized.removesuffix(b"\r") + b"\n"
            problems = placeholders.problems(path.name, text) if "${" in text else []
            return hashlib.sha256(normalized).hexdigest(), problems, content
    digest = hashlib.sha256()
    problems: list[str] = []
    unknown: list[str] = []
    for lineno, raw in enumerate(_raw_lines(path, content), 1):
        digest.update(raw.removesuffix(b"\r") + b"\n")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                _decode(raw, path, lineno)
            except MigrationFileError as exc:
                problems.append(str(exc))
            break
        if "${" in line:
            unknown.append(line)
    problems.extend(placeholders.problems(path.name, "\n".join(unknown)))
    return digest.hexdigest(), problems, content


def with_next(migrations: MigrationSet, path: Path, shown: str) -> tuple[MigrationSet, Migration]:
    """`migrations` with the file at `path` (named `shown` in messages) after all of them, as
    the next version: a new migration is judged wherever it lies, before it is moved in."""
    if path.suffix != ".sql" or not path.is_file():
        raise UsageError(f"{shown}: not a .sql file")
    checksum, problems, content = _scan(path, migrations.placeholders)
    if problems:
        raise MigrationFileError(f"{shown}: " + "; ".join(problems))
    last = migrations.migrations[-1].key if migrations.migrations else (0,)
    version = ".".join(str(part) for part in (*last[:-1], last[-1] + 1))
    migration = Migration(version, path.stem, shown, path, checksum, content=content)
    return replace(migrations, migrations=(*migrations.migrations, migration)), migration


def discover(
    directory: Path, naming: str, values: Mapping[str, str] | None = None, placeholder_mode: str = "raw"
) -> MigrationSet:
    """Read and check every migration in `directory`; raise one error listing all problems."""
    placeholders = Placeholders(values or {}, placeholder_mode)
    if not directory.is_dir():
        raise MigrationFileError(f"migrations.dir {directory} is not a directory")
    problems: list[str] = []
    found: dict[tuple[int, ...], Migration] = {}
    names = sorted(entry.name for entry in os.scandir(directory) if entry.name.endswith(".sql"))
    verifies = {n[: -len(VERIFY_SUFFIX)]: directory / n for n in names if n.endswith(VERIFY_SUFFIX)}
    for name in names:
        if name.endswith(VERIFY_SUFFIX) or name.startswith("."):
            continue
        path = directory / name
        parsed = parse_name(path.name, naming)
        if parsed is None:
            problems.append(
                f"{path.name}: name does not follow the {naming} style (expected e.g. {NAMING_EXAMPLES[naming]})"
            )
            continue
        checksum, file_problems, content = _scan(path, placeholders)
        problems.extend(file_problems)
        verify = verifies.pop(path.name[: -len(".sql")], None)
        if verify is not None:
            problems.extend(_scan(verify, placeholders)[1])
        migration = Migration(
            version=parsed[0],
            description=parsed[1],
            filename=path.name,
            path=path,
            checksum=checksum,
            verify_path=verify,
            content=content,
        )
        other = found.get(migration.key)
        if other is not None:
            problems.append(f"{path.name}: version {migration.version} is also used by {other.filename}")
            continue
        found[migration.key] = migration
    for stem, verify in sorted(verifies.items()):
        problems.append(f"{verify.name}: verify file without a migration named {stem}.sql")
    if problems:
        raise MigrationFileError(
            f"refusing to run: {len(problems)} problem(s) in {directory}:\n  " + "\n  ".join(problems)
        )
    ordered = tuple(found[key] for key in sorted(found))
    return MigrationSet(directory, naming, ordered, placeholders)
