"""Backups: real mariadb-dump output, a corpus of broken files, fixed clocks, the CLI and the checks."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.backups import dump_scan
from runner.backups.dump import find_binary, take_backup
from runner.backups.dump_scan import count_rows
from runner.backups.integrity import check_backup, check_in_source
from runner.backups.listing import WRITING, list_backups
from runner.backups.schedule import Room, freshness, retention, room, size_trend
from runner.backups.source import Space, fetch
from runner.errors import BackupFailed, TargetUnreachable
from runner.profile.loader import load_profile
from runner.profile.model import Backups
from runner.report.page import render_report
from tests.conftest import deploycheck

TRICKY_ROWS = [
    "plain",
    "it's",
    "back\\slash",
    "),(",
    "'),('",
    "semi;colon",
    "new\nline",
    "tab\there",
    "ünïcödé ✓",
    "\\'",
    "\\\\",
    "'",
    "",
    None,
    "x" * 3000,
]


@pytest.fixture(scope="module")
def dumped(mariadb, tmp_path_factory):
    """A real dump of a database with tricky strings, binary data, a view, a procedure and a trigger."""
    folder = tmp_path_factory.mktemp("dump")
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE dumpsrc CHARACTER SET utf8mb4")
        cur.execute("USE dumpsrc")
        cur.execute("CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT, raw VARBINARY(64))")
        for i in range(40):
            for text in TRICKY_ROWS:
                cur.execute(
                    "INSERT INTO notes (body, raw) VALUES (%s, %s)", (text, bytes([i, 0, 39, 92, 255]))
                )
        cur.execute("CREATE TABLE `odd``name` (k VARCHAR(20) PRIMARY KEY)")
        cur.execute("INSERT INTO `odd``name` VALUES ('a'), ('b),(c')")
        cur.execute("CREATE TABLE empty_one (id INT)")
        cur.execute("CREATE VIEW note_ids AS SELECT id FROM notes")
        cur.execute("CREATE PROCEDURE count_notes() BEGIN SELECT COUNT(*) FROM notes; END")
        cur.execute(
            "CREATE TRIGGER notes_bi BEFORE INSERT ON notes FOR EACH ROW SET NEW.body = TRIM(NEW.body)"
        )
        counts = {}
        for table in ("notes", "odd`name", "empty_one"):
            cur.execute(f"SELECT COUNT(*) FROM `{table.replace('`', '``')}`")
            counts[table] = cur.fetchone()[0]
    dump = subprocess.run(
        [
            find_binary("mariadb-dump", "mysqldump"),
            "--no-defaults",
            "--skip-ssl",  # the session server offers no TLS; MariaDB 11.4+ clients demand it
            f"--socket={mariadb.socket}",
            "-uroot",
            "--single-transaction",
            "--quick",
            "--routines",
            "--triggers",
            "dumpsrc",
        ],
        check=True,
        capture_output=True,
    ).stdout
    plain = folder / "dump.sql"
    plain.write_bytes(dump)
    good = folder / "202611240300.dumpsrc.sql.gz"
    good.write_bytes(gzip.compress(dump, 6))
    return good, plain, counts


def test_preview_counts_rows_exactly_as_the_database_does(dumped, mariadb) -> None:
    good, _, counts = dumped
    checked = check_backup(good, ["notes", "note_ids"])
    assert checked.is_intact, checked.describe()
    assert {name: t.rows for name, t in checked.dump.real_tables.items()} == counts
    assert checked.dump.views == ["note_ids"]
    assert checked.dump.routines == {"procedures": ["count_notes"], "triggers": ["notes_bi"]}
    with mariadb.connect() as conn, conn.cursor() as cur:  # whatever MariaDB runs the tests, 10.x or 11.x
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    assert checked.dump.header == "MariaDB" and version.startswith(checked.dump.server_version.split("-")[0])
    assert any("sandbox line" in w for w in checked.warnings)


@pytest.mark.parametrize(
    ("line", "rows"),
    [
        (b"INSERT INTO `t` VALUES (1,'a'),(2,'b'),(3,'c');", 3),
        (b"INSERT INTO `t` VALUES (1,'),('),(2,'\\'),(\\''),(3,'\\\\'),(4,'x\\\\\\'),(y');", 4),
        (b"INSERT INTO `t` VALUES (1,_binary '\\0\\'),(\\\\'),(2,0x29282c);", 2),
        (b"INSERT INTO `t` VALUES (1,NULL),(2,-3.5e+10);", 2),
        (b"INSERT INTO t VALUES (1,'it''s),(x'),(2,'');", 2),  # SQL-standard doubled quotes
    ],
)
def test_row_count_of_one_line_extended_inserts(line: bytes, rows: int) -> None:
    assert count_rows(line) == rows


def test_rows_after_a_values_line_are_counted_exactly_in_pieces_of_any_size() -> None:
    """mariadb-dump's one row per line, where every string holds `),(`, quotes and backslashes,
    and a line that holds two rows after all: counted a block at a time, cut anywhere."""
    rows = [b"(%d,'x;y),(z \\'q\\' \\\\ %d')" % (n, n) for n in range(1, 2001)]
    lines = [b",".join(rows[i : i + 2]) if i % 500 == 0 else rows[i] for i in range(0, 2000)]
    lines = [line for i, line in enumerate(lines) if i % 500 != 1]  # those rows went into the line before
    body = b"INSERT INTO `t` VALUES\n" + b",\n".join(lines) + b";\n-- Dump completed\n"
    for size in (7, 4096, len(body)):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        assert dump_scan.scan(pieces).tables["t"].rows == 2000


def _escaped(text: str) -> bytes:
    """A string literal as mariadb-dump writes it."""
    escapes = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\0": "\\0", "\x1a": "\\Z"}
    return ("'" + "".join(escapes.get(c, c) for c in text) + "'").encode()


_VALUE = st.one_of(
    st.text(alphabet="'\\(),;\n\r\0x é", max_size=12).map(_escaped),
    st.integers(-999, 999).map(lambda n: str(n).encode()),
    st.just(b"NULL"),
    st.binary(max_size=6).map(lambda b: b"0x" + b.hex().encode() if b else b"''"),
)
_ROW = st.lists(_VALUE, min_size=1, max_size=4).map(lambda values: b"(" + b",".join(values) + b")")


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(_ROW, min_size=1, max_size=30),
    per_line=st.lists(st.integers(1, 3), min_size=30, max_size=30),
    size=st.integers(1, 400),
)
def test_rows_are_counted_exactly_whatever_the_strings_and_lines_hold(rows, per_line, size) -> None:
    """Strings full of quotes, backslashes, parentheses, commas and escaped newlines; one row
    per line as mariadb-dump writes them, or several; the dump cut into pieces anywhere."""
    lines, at = [], 0
    for take in per_line:
        if at < len(rows):
            lines.append(b",".join(rows[at : at + take]))
            at += take
    body = b"INSERT INTO `t` VALUES\n" + b",\n".join(lines) + b";\nINSERT INTO `t` VALUES " + rows[0] + b";\n"
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    assert dump_scan.scan(pieces).tables["t"].rows == len(rows) + 1


# -- the corpus of broken files ------------------------------------------------


def _broken(plain: bytes, good: bytes) -> dict[str, tuple[bytes, str]]:
    without_footer = plain[: plain.rindex(b"-- Dump completed")]
    unresolved = plain[: plain.index(b"-- Final view structure")] + b"-- Dump completed on 2026-11-24\n"
    no_table = plain.replace(b"`notes`", b"`renamed`")
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    return {
        "zero bytes": (b"", "empty"),
        "plain SQL named .gz": (plain, "not gzip"),
        "gzip of something else": (gzip.compress(b"hello, this is not a dump\n" * 50), "no dump header"),
        "trailing garbage": (good + b"GARBAGE after the stream", "trailing garbage"),
        "footer missing": (gzip.compress(without_footer), "no completion footer"),
        "view placeholder unresolved": (gzip.compress(unresolved), "unresolved view"),
        "doubled compression": (gzip.compress(good), "doubled compression"),
        "required table missing": (gzip.compress(no_table), "missing table"),
        "single bit flip": (bytes(flipped), "CRC mismatch|corrupt"),
        "truncated in the header": (good[:5], "truncated"),
        "truncated mid-stream": (good[: len(good) // 3], "truncated"),
        "truncated in the trailer": (good[:-3], "truncated"),
    }


def test_every_broken_file_gets_its_named_reason(dumped, tmp_path) -> None:
    good, plain, _ = dumped
    for label, (data, reasons) in _broken(plain.read_bytes(), good.read_bytes()).items():
        path = tmp_path / "broken.sql.gz"
        path.write_bytes(data)
        checked = check_backup(path, ["notes"])
        named = [reason for reason, _ in checked.problems]
        assert not checked.is_intact, label
        assert any(reason in reasons.split("|") for reason in named), f"{label}: got {checked.problems}"


def test_tables_named_without_backticks_are_counted(tmp_path) -> None:
    dump = b"-- MySQL dump 10.13\nCREATE TABLE big (id INT);\nINSERT INTO big VALUES (1,'a),(b'),(2,'c');\n"
    path = tmp_path / "bare.sql.gz"
    path.write_bytes(gzip.compress(dump + b"-- Dump completed on 2026-11-24\n"))
    checked = check_backup(path)
    assert checked.is_intact and checked.dump.real_tables["big"].rows == 2


def test_concatenated_members_and_zero_padding_are_accepted(dumped, tmp_path) -> None:
    _, plain, counts = dumped
    data = plain.read_bytes()
    half = data.index(b"\n", len(data) // 2) + 1
    path = tmp_path / "two-members.sql.gz"
    path.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]) + b"\0" * 512)
    checked = check_backup(path)
    assert checked.is_intact and checked.stream.members == 2
    assert checked.dump.real_tables["notes"].rows == counts["notes"]


# -- listing, freshness and retention against fixed clocks ---------------------

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _folder(tmp_path: Path, names: list[str], sizes: dict[str, int] | None = None) -> Backups:
    for name in names:
        (tmp_path / name).write_bytes(b"\0" * (sizes or {}).get(name, 1000))
    return Backups(source=str(tmp_path), schedule="0 3 * * *", grace_hours=2, retention=3)


def _stopped(*paths: Path, hours: float = 1) -> None:
    """Files last changed `hours` ago: no backup run is writing them any more."""
    then = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
    for path in paths:
        os.utime(path, (then, then))


def test_listing_reads_kinds_databases_times_links_and_leftovers(tmp_path) -> None:
    cfg = _folder(
        tmp_path,
        [
            "202611230300.app.sql.gz",
            "202611240300.app.sql.gz",
            "manual_2026-11-23_14-05-09.sql.gz",
            "pre-restore_2026-11-22_10-00-00.sql.gz",
            "odd-name.sql.gz",
            "202611240300.app.sql",
        ],
    )
    _stopped(tmp_path / "202611240300.app.sql", tmp_path / "202611240300.app.sql.gz")
    os.symlink("202611240300.app.sql.gz", tmp_path / "latest.app.sql.gz")
    os.symlink("202601010300.gone.sql.gz", tmp_path / "latest.gone.sql.gz")
    listing = list_backups(cfg)
    kinds = {f.name: (f.kind, f.database, f.time_from) for f in listing.files}
    assert kinds["202611240300.app.sql.gz"] == ("scheduled", "app", "name")
    assert kinds["manual_2026-11-23_14-05-09.sql.gz"] == ("manual", None, "name")
    assert kinds["pre-restore_2026-11-22_10-00-00.sql.gz"] == ("pre-restore", None, "name")
    assert kinds["odd-name.sql.gz"] == ("unknown", None, "mtime")
    assert listing.latest == {"app": "202611240300.app.sql.gz", "gone": None}
    assert listing.leftovers == ["202611240300.app.sql"] and listing.writing == []


def test_a_backup_run_still_writing_is_neither_a_leftover_nor_a_backup(tmp_path) -> None:
    """fradelg's run dumps into X.sql, then gzip writes X.sql.gz from it: a verify run meanwhile
    saw a leftover, then a truncated newest backup. Once neither file changes for WRITING, the
    .sql is a leftover and the .sql.gz a backup judged as it is."""
    cfg = _folder(tmp_path, ["202611230300.app.sql.gz", "202611240300.app.sql"])
    _stopped(tmp_path / "202611230300.app.sql.gz", hours=24)
    dumping = list_backups(cfg)
    assert (dumping.writing, dumping.leftovers) == (["202611240300.app.sql"], [])
    assert [f.name for f in dumping.files] == ["202611230300.app.sql.gz"]
    _stopped(tmp_path / "202611240300.app.sql", hours=2)  # the dump ended; gzip -9 is still at it
    (tmp_path / "202611240300.app.sql.gz").write_bytes(b"\x1f\x8b")
    compressing = list_backups(cfg)
    assert (compressing.writing, compressing.leftovers) == (["202611240300.app.sql"], [])
    assert [f.name for f in compressing.files] == ["202611230300.app.sql.gz"]
    stopped = list_backups(cfg, now=datetime.now(UTC) + WRITING + timedelta(minutes=1))
    assert (stopped.writing, stopped.leftovers) == ([], ["202611240300.app.sql"])
    assert [f.name for f in stopped.files] == ["202611230300.app.sql.gz", "202611240300.app.sql.gz"]


def test_freshness_names_last_due_overdue_and_next(tmp_path) -> None:
    cfg = _folder(tmp_path, ["202611220300.app.sql.gz", "202611230300.app.sql.gz"])
    fresh = freshness(list_backups(cfg), "app", cfg, NOW)
    assert not fresh.is_fresh
    assert fresh.describe() == (
        "newest scheduled backup 202611230300.app.sql.gz (1.0 kB), taken 2026-11-23 03:00 UTC, 29.0 h ago; "
        "due 2026-11-24 03:00 UTC; overdue by 5 h; next scheduled 2026-11-25 03:00 UTC"
    )
    within_grace = freshness(list_backups(cfg), "app", cfg, datetime(2026, 11, 24, 4, 30, tzinfo=UTC))
    assert within_grace.is_fresh
    assert (
        "202611230300.app.sql.gz (1.0 kB), taken 2026-11-23 03:00 UTC, 25.5 h ago" in within_grace.describe()
    )


def test_freshness_judges_the_schedule_on_scheduled_backups_only(tmp_path) -> None:
    """The cron job stopped three days ago; an operator's dump an hour ago does not hide it."""
    cfg = _folder(tmp_path, ["202611210300.app.sql.gz", "manual_2026-11-24_07-00-00.sql.gz"])
    fresh = freshness(list_backups(cfg), "app", cfg, NOW)
    assert not fresh.is_fresh
    assert fresh.describe() == (
        "newest scheduled backup 202611210300.app.sql.gz (1.0 kB), taken 2026-11-21 03:00 UTC, 3.2 days ago; "
        "due 2026-11-22 03:00 UTC; overdue by 53 h; next scheduled 2026-11-25 03:00 UTC; "
        "newest backup of any kind manual_2026-11-24_07-00-00.sql.gz (manual, 1.0 kB), 1.0 h ago"
    )
    (tmp_path / "202611210300.app.sql.gz").unlink()
    only_manual = freshness(list_backups(cfg), "app", cfg, NOW)
    assert not only_manual.is_fresh
    assert only_manual.describe().startswith(
        "no scheduled backup of app; next scheduled 2026-11-25 03:00 UTC;"
    )


def test_a_backup_dated_in_the_future_is_a_finding(tmp_path) -> None:
    """A wrong TZ names tonight's dump hours ahead: it must not keep freshness green until then."""
    cfg = _folder(tmp_path, ["202611230300.app.sql.gz", "202611241000.app.sql.gz"])
    fresh = freshness(list_backups(cfg), "app", cfg, NOW)
    assert not fresh.is_fresh
    assert fresh.last is not None and fresh.last.name == "202611230300.app.sql.gz"  # judged without it
    assert fresh.describe().startswith(
        "202611241000.app.sql.gz is dated 2026-11-24 10:00 UTC, 2.0 h in the future: a clock or time zone mistake"
    )
    assert "overdue by 5 h" in fresh.describe()
    within_skew = freshness(list_backups(cfg), "app", cfg, datetime(2026, 11, 24, 9, 56, tzinfo=UTC))
    assert within_skew.is_fresh and not within_skew.future  # a clock a few minutes fast is no mistake
    beyond = freshness(list_backups(cfg), "app", cfg, datetime(2026, 11, 24, 9, 54, 30, tzinfo=UTC))
    assert [b.name for b in beyond.future] == ["202611241000.app.sql.gz"]  # 5.5 min ahead: more than 5


def test_freshness_without_grace_counts_minutes_and_no_backup_is_stale(tmp_path) -> None:
    names = ["202611210300.app.sql.gz", "202611220300.app.sql.gz", "202611230300.app.sql.gz"]
    cfg = _folder(tmp_path, names).model_copy(update={"grace_hours": 0})
    listing = list_backups(cfg)
    at = {t: datetime(2026, 11, 24, *t, tzinfo=UTC) for t in ((2, 59), (3, 30), (4, 0), (3, 45))}
    on_time, half_hour, hour, three_quarters = (
        freshness(listing, "app", cfg, moment) for moment in at.values()
    )
    assert "; overdue by 45 min; " in three_quarters.describe()
    assert on_time.is_fresh and on_time.describe() == (
        "newest scheduled backup 202611230300.app.sql.gz (1.0 kB), taken 2026-11-23 03:00 UTC, 24.0 h ago; "
        "due 2026-11-24 03:00 UTC; next scheduled 2026-11-24 03:00 UTC"
    )
    assert not half_hour.is_fresh and "; overdue by 30 min; " in half_hour.describe()
    two_days = freshness(listing, "app", cfg, datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
    assert "taken 2026-11-23 03:00 UTC, 2.0 days ago;" in two_days.describe()  # 48 h: said in days
    assert not hour.is_fresh and "; overdue by 1 h; " in hour.describe()
    graced = cfg.model_copy(update={"grace_hours": 2})
    assert freshness(
        listing, "app", graced, datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    ).is_fresh  # grace's last minute
    nothing = freshness(listing, "other", cfg, NOW)
    assert (
        not nothing.is_fresh
        and nothing.describe()
        == "no scheduled backup of other; next scheduled 2026-11-25 03:00 UTC; no backup of any kind"
    )


def test_room_is_counted_in_nights_by_space_and_inodes() -> None:
    assert Room(1000, 10, 300, 2, 3).nights_left == 3 and Room(1000, 10, 300, 2, 3).is_enough
    by_inodes = Room(1000, 5, 300, 2, 3)
    assert (by_inodes.nights_left, by_inodes.is_enough) == (2, False)
    assert by_inodes.describe() == (
        "1.0 kB and 5 inodes free; the newest backups take 300 B in 2 file(s) a night; room for 2 more "
        "(backups.min_free_backups is 3)"
    )
    empty = Room(10**9, 10, 0, 1, 3)
    assert (empty.measured, empty.is_enough) == (False, False)
    assert empty.describe().endswith("take 0 B in 1 file(s): no night's size to judge the room by")
    assert Room(10, 10, 1, 1, 3).nights_left == 10  # a byte is a size: measured
    big = Room(2_500_000_000, 10**6, 1_500_000, 1, 3)
    assert big.describe().startswith(
        "2.5 GB and 1,000,000 inodes free; the newest backups take 1.5 MB in 1 file(s)"
    )


def test_room_counts_the_newest_backup_of_each_database(tmp_path) -> None:
    """One night is what the last run wrote: the newest backup of each database, not an older one."""
    names = ["202611220300.app.sql.gz", "202611230300.app.sql.gz", "202611240300.app.sql.gz"]
    sizes = dict(zip(names, [100, 200, 300], strict=True))
    listing = list_backups(
        _folder(tmp_path, [*names, "202611230300.shop.sql.gz"], {**sizes, "202611230300.shop.sql.gz": 50})
    )
    assert room(listing, ["app", "shop", "gone"], Space(3500, 100), 3) == Room(3500, 100, 350, 2, 3)
    one = room(listing, ["app"], Space(3500, 100), 3)
    # one database: one file a night, and that is a measurement
    assert (one.measured, one.nights_left, one.is_enough) == (True, 11, True)


def test_freshness_reads_names_in_the_container_time_zone(tmp_path) -> None:
    cfg = _folder(tmp_path, ["202611240300.app.sql.gz"]).model_copy(update={"timezone": "Europe/Berlin"})
    (newest,) = list_backups(cfg).files
    assert newest.taken_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert retention(list_backups(cfg), "app", cfg, NOW).off_schedule == 0  # 03:00 in Berlin: on schedule


def test_a_wall_time_repeated_when_summer_time_ends_is_one_run(tmp_path) -> None:
    """02:30 happens twice in Berlin on 2026-10-25 and cron runs a 02:30 job once: the second
    02:30 (01:30 UTC) is not a run due, so that morning the backup was not called overdue, nor
    a run missed."""
    cfg = _folder(tmp_path, ["202610240230.app.sql.gz", "202610250230.app.sql.gz"]).model_copy(
        update={"timezone": "Europe/Berlin", "schedule": "30 2 * * *", "retention": 5}
    )
    morning = datetime(2026, 10, 25, 4, 0, tzinfo=UTC)
    fresh = freshness(list_backups(cfg), "app", cfg, morning)
    assert fresh.is_fresh and fresh.due == fresh.next_run == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    kept = retention(list_backups(cfg), "app", cfg, morning)
    assert kept.is_filling_up and kept.missed == (), kept.describe()
    assert freshness(list_backups(cfg), "app", cfg, morning + timedelta(days=1)).overdue_h == 2.5


def test_retention_counts_and_notes_off_schedule_backups(tmp_path) -> None:
    names = [
        "202611200300.app.sql.gz",
        "202611211412.app.sql.gz",
        "202611211530.app.sql.gz",
        "202611230300.app.sql.gz",
    ]
    cfg = _folder(tmp_path, names)
    kept = retention(list_backups(cfg), "app", cfg, NOW)
    assert (kept.count, kept.off_schedule) == (4, 2) and kept.is_kept
    assert "2 were taken off-schedule (container starts)" in kept.describe()
    assert "4 backup(s) of app (retention 3); oldest restorable 2026-11-20 03:00 UTC, 4.2 days back" in (
        kept.describe()
    )


def _nights(*days: int) -> list[str]:
    return [f"202611{day:02d}0300.app.sql.gz" for day in days]


def test_a_new_set_still_filling_up_keeps_retention(tmp_path) -> None:
    """retention 60 on a new installation: three nights, none missing, pass and say so."""
    cfg = _folder(tmp_path, _nights(22, 23, 24)).model_copy(update={"retention": 60})
    kept = retention(list_backups(cfg), "app", cfg, NOW)
    assert kept.is_kept and kept.is_filling_up
    assert kept.describe() == (
        "3 backup(s) of app (retention 60); oldest restorable 2026-11-22 03:00 UTC, 2.2 days back; still "
        "filling up: every scheduled run since the oldest backup left one, and 57 more (the next "
        "2026-11-25 03:00 UTC) make 60"
    )
    endless = cfg.model_copy(update={"retention": 10**9})  # read up to now, not up to the billionth run
    assert retention(list_backups(endless), "app", endless, NOW).runs_to_go == 10**9 - 3


def test_a_missed_night_fails_retention_while_filling_up(tmp_path) -> None:
    cfg = _folder(tmp_path, _nights(20, 21, 23, 24)).model_copy(update={"retention": 60})
    kept = retention(list_backups(cfg), "app", cfg, NOW)
    assert not kept.is_kept
    assert "; 1 scheduled run(s) since then left no backup: 2026-11-22 03:00 UTC" in kept.describe()
    tonight = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 03:00 has no backup yet, but is within grace
    assert retention(list_backups(cfg), "app", cfg, tonight).missed == kept.missed


def test_retention_names_five_missed_runs_and_counts_the_rest(tmp_path) -> None:
    cfg = _folder(tmp_path, _nights(10, *range(16, 25))).model_copy(update={"retention": 60})
    five = retention(list_backups(cfg), "app", cfg, NOW)
    assert five.describe().startswith(
        "10 backup(s) of app (retention 60); oldest restorable 2026-11-10 03:00 UTC, 14.2 days back; 5 "
    )
    assert five.describe().endswith(
        "; 5 scheduled run(s) since then left no backup: 2026-11-11 03:00 UTC, 2026-11-12 03:00 UTC, "
        "2026-11-13 03:00 UTC, 2026-11-14 03:00 UTC, 2026-11-15 03:00 UTC"
    )
    (tmp_path / _nights(16)[0]).unlink()
    six = retention(list_backups(cfg), "app", cfg, NOW)
    assert six.describe().endswith(
        "; 6 scheduled run(s) since then left no backup: 2026-11-11 03:00 UTC, 2026-11-12 03:00 UTC, "
        "2026-11-13 03:00 UTC, 2026-11-14 03:00 UTC, 2026-11-15 03:00 UTC and 1 more"
    )


def test_a_set_old_enough_that_falls_short_fails(tmp_path) -> None:
    """Four nights back, three backups: the schedule had time to make four, one run left none."""
    cfg = _folder(tmp_path, _nights(21, 23, 24)).model_copy(update={"retention": 3})
    enough = retention(list_backups(cfg), "app", cfg, NOW)
    assert enough.is_kept  # enough is enough, holes or not: and none is named as missed
    assert (
        enough.describe()
        == "3 backup(s) of app (retention 3); oldest restorable 2026-11-21 03:00 UTC, 3.2 days back"
    )
    unwanted = cfg.model_copy(update={"retention": None})
    assert retention(list_backups(unwanted), "app", unwanted, NOW).is_kept
    nothing = retention(list_backups(cfg), "other", cfg.model_copy(update={"retention": 1}), NOW)
    assert (nothing.is_kept, nothing.describe()) == (False, "no backups of other")
    short = cfg.model_copy(update={"retention": 4})
    kept = retention(list_backups(short), "app", short, NOW)
    assert not kept.is_kept and not kept.is_filling_up
    assert kept.describe().endswith("1 scheduled run(s) since then left no backup: 2026-11-22 03:00 UTC")
    before_its_grace = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # the fourth could still come at 03:00
    assert retention(list_backups(short), "app", short, before_its_grace).missed == kept.missed
    unscheduled = short.model_copy(update={"schedule": None})
    unjudged = retention(list_backups(unscheduled), "app", unscheduled, NOW)
    assert not unjudged.is_kept and unjudged.describe() == (
        "3 backup(s) of app (retention 4); oldest restorable 2026-11-21 03:00 UTC, 3.2 days back; without "
        "backups.schedule a set still filling up cannot be told from one that falls short"
    )


def test_size_trend_takes_the_window_before_the_newest(tmp_path) -> None:
    names = [f"2026111{d}0300.app.sql.gz" for d in range(5)]
    sizes = dict(zip(names, [100, 1000, 1100, 1050, 300], strict=True))
    listing = list_backups(_folder(tmp_path, names, sizes))
    trend = size_trend(listing, "app", 2)
    assert (trend.median, trend.newest, len(trend.points)) == (1075, 300, 5)
    for name in names[2:]:
        (tmp_path / name).unlink()
    two = size_trend(list_backups(_folder(tmp_path, [])), "app", 7)
    assert (two.median, two.newest) == (100, 1000)
    (tmp_path / names[1]).unlink()
    one = size_trend(list_backups(_folder(tmp_path, [])), "app", 7)
    assert (one.median, one.newest, one.dropped(0.5)) == (None, 100, False)


def test_size_drop_against_the_median(tmp_path) -> None:
    names = [f"2026111{d}0300.app.sql.gz" for d in range(5)]
    sizes = dict(zip(names, [1000, 1100, 1050, 1020, 300], strict=True))
    trend = size_trend(list_backups(_folder(tmp_path, names, sizes)), "app", 7)
    assert trend.median == 1035 and trend.newest == 300 and trend.dropped(0.5)
    (tmp_path / names[0]).write_bytes(b"\0" * 1030)  # the median 1040
    (tmp_path / names[-1]).write_bytes(b"\0" * 520)  # half of it exactly: not less than half
    assert not size_trend(list_backups(_folder(tmp_path, [])), "app", 7).dropped(0.5)


# -- the CLI and a manual backup ------------------------------------------------


def _backup_profile(target, folder: Path, **extra) -> Path:
    return target.write_profile(
        backups={"source": str(folder), "schedule": "0 3 * * *", "grace_hours": 2, **extra}
    )


def test_backups_now_writes_a_verified_fradelg_named_dump(target, tmp_path) -> None:
    target.add("V1__t.sql", "CREATE TABLE gene (id INT PRIMARY KEY);\nINSERT INTO gene VALUES (1), (2);\n")
    target.migrate()
    folder = tmp_path / "backup"
    folder.mkdir()
    dumper_password = "Dumper-Passw0rd-31"
    with target.server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER 'dump_{target.database}'@'localhost' IDENTIFIED BY %s", (dumper_password,))
        cur.execute(
            f"GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES ON `{target.database}`.* TO 'dump_{target.database}'@'localhost'"
        )
        cur.execute(f"GRANT SELECT ON mysql.proc TO 'dump_{target.database}'@'localhost'")
    target.write_profile(database={"user": f"dump_{target.database}", "password": dumper_password})
    _backup_profile(target, folder, required_tables=["gene"])
    result = deploycheck("backups", "now", "--profile", str(target.profile_path))
    assert result.returncode == 0, result.stderr
    (made,) = folder.iterdir()
    assert made.name.endswith(f".{target.database}.sql.gz") and len(made.name.split(".")[0]) == 12
    assert check_backup(made, ["gene"]).dump.real_tables["gene"].rows == 2
    assert dumper_password not in result.stdout + result.stderr

    listed = json.loads(
        deploycheck("backups", "list", "--profile", str(target.profile_path), "--json").stdout
    )
    assert [f["name"] for f in listed["files"]] == [made.name]
    preview = deploycheck("backups", "preview", "--profile", str(target.profile_path), "--latest")
    assert preview.returncode == 0 and "table gene" in preview.stdout and "2 rows" in preview.stdout


class _FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_backup_whose_minute_is_taken_gets_the_next_minutes_name_and_overwrites_nothing(
    target, tmp_path
) -> None:
    """fradelg's names have minute resolution: a second backup in the same minute (or the cron
    job's) must neither fail nor replace the first."""
    target.add("V1__t.sql", "CREATE TABLE gene (id INT PRIMARY KEY);\nINSERT INTO gene VALUES (1);\n")
    target.migrate()
    folder = tmp_path / "backup"
    folder.mkdir()
    _backup_profile(target, folder, required_tables=["gene"])
    taken = folder / f"202611251000.{target.database}.sql.gz"
    taken.write_bytes(b"the cron job's backup")
    fake = _FakeTime(datetime(2026, 11, 25, 10, 0, 20, tzinfo=UTC))
    said: list[str] = []

    made = take_backup(
        load_profile(str(target.profile_path)), clock=fake.clock, sleep=fake.sleep, on_wait=said.append
    )

    assert made.name == f"202611251001.{target.database}.sql.gz"
    assert fake.slept == [40.0] and "waiting 40 s" in said[0]
    assert taken.read_bytes() == b"the cron job's backup"
    assert check_backup(made, ["gene"]).dump.real_tables["gene"].rows == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([taken.name, made.name])  # no partial left


def test_failed_backup_leaves_nothing_behind(target, tmp_path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    _backup_profile(target, folder)
    target.write_profile(database={"password": "wrong-password"})
    with pytest.raises(BackupFailed, match="mariadb-dump failed"):
        take_backup(load_profile(str(target.profile_path)))
    assert list(folder.iterdir()) == []


def test_verify_cli_exit_codes(dumped, tmp_path) -> None:
    good, _, _ = dumped
    assert deploycheck("backups", "verify", str(good)).returncode == 0
    bad = tmp_path / "bad.sql.gz"
    bad.write_bytes(good.read_bytes()[:-100])
    result = deploycheck("backups", "verify", "--json", str(bad))
    assert result.returncode == 1 and json.loads(result.stdout)["problems"][0]["reason"] == "truncated"


def test_a_path_outside_the_folder_is_verified_with_the_profiles_rules(dumped, tmp_path) -> None:
    """A backup someone fetched or renamed: checked as that file, against required_tables."""
    good, _, _ = dumped
    (tmp_path / "backup").mkdir()
    copy = tmp_path / "fetched-before-the-upgrade.gz"
    copy.write_bytes(good.read_bytes())
    profile = tmp_path / "profile.yml"
    profile.write_text("backups: {source: backup, required_tables: [notes, users]}\n")
    result = deploycheck("backups", "verify", str(copy), "--profile", str(profile), "--json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["problems"] == [
        {"reason": "missing table", "detail": "required table `users` is not in the dump"}
    ]
    preview = deploycheck("backups", "preview", str(copy), "--profile", str(profile))
    assert preview.returncode == 1 and "table notes" in preview.stdout
    missing = deploycheck("backups", "verify", "nope.sql.gz", "--profile", str(profile))
    assert missing.returncode == 2 and "nope.sql.gz: no such file, and no such backup in" in missing.stderr


# -- checks/test_backups.py -----------------------------------------------------


@pytest.fixture()
def backup_target(target, tmp_path, dumped):
    """Six daily backups in fradelg's layout, the newest taken 12 to 13 hours ago.

    The daily run's hour follows the clock, so no test's margin shrinks when CI runs just after
    a fixed hour (a nightly run at midnight made the newest backup minutes old at 00:04).
    """
    good, _, _ = dumped
    folder = tmp_path / "backup"
    folder.mkdir()
    newest = (datetime.now(UTC) - timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
    for days in range(5, -1, -1):
        name = f"{newest - timedelta(days=days):%Y%m%d%H%M}.dumpsrc.sql.gz"
        (folder / name).write_bytes(good.read_bytes())
    os.symlink(name, folder / "latest.dumpsrc.sql.gz")
    target.write_profile(
        backups={
            "source": str(folder),
            "databases": ["dumpsrc"],
            "schedule": f"0 {newest.hour} * * *",
            "grace_hours": 30,
            "retention": 5,
            "required_tables": ["notes"],
        }
    )
    target.folder = folder
    target.newest = folder / name
    return target


BACKUP_CHECKS = {
    "test_backup_is_fresh[dumpsrc]": "passed",
    "test_newest_backup_is_intact[dumpsrc]": "passed",
    "test_newest_backup_restores_on_mysql[dumpsrc]": "skipped",  # restored on MariaDB, the target's flavor
    "test_retention_is_kept[dumpsrc]": "passed",
    "test_backup_size_has_not_dropped[dumpsrc]": "passed",
    "test_latest_links_point_to_backups": "passed",
    "test_no_leftover_uncompressed_dumps": "passed",
    "test_newest_backup_restores[dumpsrc]": "skipped",  # backups.drill is not configured
    "test_pending_migrations_apply_to_last_nights_data[dumpsrc]": "skipped",
    "test_backup_volume_has_room": "passed",
}


def test_healthy_backups_pass_the_checks(backup_target, run_checks, tmp_path) -> None:
    run = run_checks(
        backup_target.profile_path,
        "-k",
        "test_backups",
        f"--html={tmp_path / 'r.html'}",
        "--self-contained-html",
    )
    assert run.outcomes("backups") == BACKUP_CHECKS
    assert run.exit_code == 0
    assert run.check("test_newest_backup_is_intact[dumpsrc]")["details"]["preview"]["notes"] == 40 * len(
        TRICKY_ROWS
    )
    check = run.check("test_newest_backup_is_intact[dumpsrc]")
    assert check["title"].endswith("every view and required table; its restore preview is recorded.")
    assert re.fullmatch(
        rf"{re.escape(backup_target.newest.name)}: [\d,]+ bytes inflate to [\d,]+, a complete dump of \d+ table\(s\)",
        check["message"],
    ), check["message"]
    size = run.check("test_backup_size_has_not_dropped[dumpsrc]")
    assert (
        len(size["details"]["sizes"]) == 6
    )  # the six nightly backups, drawn by report.html with its threshold
    night = backup_target.newest.stat().st_size  # all six the same size
    assert size["details"]["threshold"] == 0.5 * night
    assert size["message"] == (
        f"newest backup of dumpsrc is {night:,} bytes, the median of the 7 before it {night:,} "
        "(threshold 0.5 x the median)"
    )
    for check, name in (
        ("test_retention_is_kept[dumpsrc]", "retention"),
        ("test_backup_volume_has_room", "room"),
    ):
        assert run.check(check)["details"][name] == run.check(check)["message"]
    assert run.check("test_latest_links_point_to_backups")["message"] == (
        f"latest.dumpsrc.sql.gz -> {backup_target.newest.name}"
    )
    assert run.check("test_no_leftover_uncompressed_dumps")["message"] == (
        f"no plain .sql file beside the 6 backup(s) in {backup_target.folder}"
    )
    chart = render_report(run.report, [])
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in chart and "backup sizes: dumpsrc" in chart


def test_sandbox_line_warns_and_a_dump_without_it_passes(backup_target, run_checks, tmp_path) -> None:
    """mariadb-dump's first line makes MySQL refuse the restore; a dump without it restores on both.
    It matters only where backups are restored on MySQL: not on the MariaDB target's own flavor."""
    # beside a check that comes to a verdict: a run of nothing but a skip is no verdict (exit 2)
    check = run_checks(backup_target.profile_path, "-k", "restores_on_mysql or intact").check(
        "test_newest_backup_restores_on_mysql[dumpsrc]"
    )
    assert check["outcome"] == "skipped"
    assert check["message"].startswith("backups are restored on MariaDB (the target is MariaDB 1")
    backup_target.write_profile(backups={"restore_flavor": "mysql"})
    page = tmp_path / "r.html"
    run = run_checks(
        backup_target.profile_path, "-k", "restores_on_mysql", f"--html={page}", "--self-contained-html"
    )
    check = run.check("test_newest_backup_restores_on_mysql[dumpsrc]")
    assert check["outcome"] == "warned" and run.exit_code == 0
    # pytest-html can only say "XFailed"; the Check column says warned, the severity and the requirement
    assert "&lt;b&gt;warned&lt;/b&gt; (warning) Where backups would be restored on MySQL" in page.read_text()
    assert check["message"] == (
        f"{backup_target.newest.name}: starts with the MariaDB sandbox line, which a MySQL server "
        "refuses: strip the first line to restore on MySQL"
    )
    dump = gzip.decompress(backup_target.newest.read_bytes())
    assert dump.startswith(b"/*M!999999\\- enable the sandbox mode */")
    backup_target.newest.write_bytes(gzip.compress(dump.split(b"\n", 1)[1]))
    run = run_checks(backup_target.profile_path, "-k", "restores_on_mysql or intact")
    check = run.check("test_newest_backup_restores_on_mysql[dumpsrc]")
    assert check["outcome"] == "passed"
    assert check["message"] == (
        f"{backup_target.newest.name} does not start with MariaDB's sandbox line "
        "(backups.restore_flavor is mysql)"
    )
    assert run.outcome("test_newest_backup_is_intact[dumpsrc]") == "passed"


def test_stale_backups_fail_freshness(backup_target, run_checks) -> None:
    backup_target.write_profile(backups={"grace_hours": 0, "schedule": "*/5 * * * *"})
    check = run_checks(backup_target.profile_path, "-k", "fresh").check("test_backup_is_fresh[dumpsrc]")
    assert check["outcome"] == "failed" and "overdue by" in check["message"]


def test_fresh_backups_say_what_was_measured(backup_target, run_checks) -> None:
    manual = (
        backup_target.folder / f"manual_{datetime.now(UTC) - timedelta(minutes=30):%Y-%m-%d_%H-%M-%S}.sql.gz"
    )
    manual.write_bytes(backup_target.newest.read_bytes())
    check = run_checks(backup_target.profile_path, "-k", "fresh").check("test_backup_is_fresh[dumpsrc]")
    assert check["outcome"] == "passed"
    assert check["message"].startswith(f"newest scheduled backup {backup_target.newest.name} (")
    assert f"; newest backup of any kind {manual.name} (manual, " in check["message"]
    age = datetime.now(UTC) - datetime.strptime(backup_target.newest.name[:12], "%Y%m%d%H%M").replace(
        tzinfo=UTC
    )
    assert check["details"]["freshness"] == check["message"]
    assert abs(check["details"]["age_s"] - age.total_seconds()) < 600  # the newest scheduled one's age


def test_a_stopped_schedule_fails_freshness_despite_a_manual_dump(backup_target, run_checks) -> None:
    for stale in sorted(backup_target.folder.glob("*.dumpsrc.sql.gz"))[-3:]:
        stale.unlink()  # the cron job stopped three nights ago
    (backup_target.folder / f"manual_{datetime.now(UTC):%Y-%m-%d_%H-%M-%S}.sql.gz").write_bytes(b"")
    backup_target.write_profile(backups={"grace_hours": 2})
    run = run_checks(backup_target.profile_path, "-k", "fresh or retention")
    check = run.check("test_backup_is_fresh[dumpsrc]")
    assert check["outcome"] == "failed" and "overdue by" in check["message"]
    assert "newest backup of any kind manual_" in check["message"]
    missed = run.check("test_retention_is_kept[dumpsrc]")  # the nights the schedule missed
    assert missed["outcome"] == "failed" and "scheduled run(s) since then left no backup" in missed["message"]
    assert run.exit_code == 1


def test_a_backup_dated_tomorrow_fails_freshness(backup_target, run_checks) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    (backup_target.folder / f"{tomorrow:%Y%m%d%H%M}.dumpsrc.sql.gz").write_bytes(
        backup_target.newest.read_bytes()
    )
    run = run_checks(backup_target.profile_path, "-k", "fresh")
    check = run.check("test_backup_is_fresh[dumpsrc]")
    assert check["outcome"] == "failed" and run.exit_code == 1
    assert f"{tomorrow:%Y%m%d%H%M}.dumpsrc.sql.gz is dated " in check["message"]
    assert "in the future: a clock or time zone mistake" in check["message"]


def test_checks_during_a_backup_run_judge_the_last_finished_backup(backup_target, run_checks) -> None:
    """A verify run while gzip writes a backup (a container start's): the growing files are
    named, not a leftover, and the newest backup judged is the last one finished."""
    running = backup_target.folder / f"{datetime.now(UTC):%Y%m%d%H%M}.dumpsrc.sql"
    running.write_bytes(b"-- MariaDB dump")
    running.with_name(f"{running.name}.gz").write_bytes(backup_target.newest.read_bytes()[:100])
    run = run_checks(backup_target.profile_path, "-k", "leftover or intact or fresh")
    said = run.said(
        "test_no_leftover_uncompressed_dumps",
        "test_newest_backup_is_intact[dumpsrc]",
        "test_backup_is_fresh[dumpsrc]",
    )
    assert [outcome for outcome, _ in said.values()] == ["passed"] * 3, said
    assert said["test_no_leftover_uncompressed_dumps"][1].endswith(f"; still being written: {running.name}")
    assert said["test_newest_backup_is_intact[dumpsrc]"][1].startswith(f"{backup_target.newest.name}: ")


def test_corrupt_newest_backup_fails_with_its_reason(backup_target, run_checks) -> None:
    data = backup_target.newest.read_bytes()
    backup_target.newest.write_bytes(data[: len(data) // 2])
    check = run_checks(backup_target.profile_path, "-k", "intact").check(
        "test_newest_backup_is_intact[dumpsrc]"
    )
    assert check["outcome"] == "failed" and "truncated" in check["message"]
    backup_target.write_profile(backups={"restore_flavor": "mysql"})  # a damaged dump is not looked into
    run = run_checks(backup_target.profile_path, "-k", "intact or restores_on_mysql")
    check = run.check("test_newest_backup_restores_on_mysql[dumpsrc]")
    assert (check["outcome"], check["message"]) == ("skipped", "no intact backup to look at")


def test_checks_without_their_settings_skip_saying_so(backup_target, run_checks) -> None:
    backup_target.write_profile(backups={"schedule": None, "retention": None})
    os.unlink(backup_target.folder / "latest.dumpsrc.sql.gz")
    run = run_checks(backup_target.profile_path, "-k", "fresh or intact or retention or latest")
    assert run.outcome("test_newest_backup_is_intact[dumpsrc]") == "passed"
    folder = re.escape(str(backup_target.folder))
    for check, said in (
        ("test_backup_is_fresh[dumpsrc]", r"backups\.schedule not configured in profile \S+"),
        ("test_retention_is_kept[dumpsrc]", r"backups\.retention not configured in profile \S+"),
        ("test_latest_links_point_to_backups", rf"no latest\.\*\.sql\.gz links in {folder}"),
    ):
        skipped = run.check(check)
        assert skipped["outcome"] == "skipped" and re.fullmatch(said, skipped["message"]), skipped


def test_intact_check_without_a_backup_fails_naming_the_database(backup_target, run_checks) -> None:
    for backup in backup_target.folder.glob("*.sql.gz"):
        backup.unlink()
    run = run_checks(backup_target.profile_path, "-k", "intact")
    check = run.check("test_newest_backup_is_intact[dumpsrc]")
    assert (check["outcome"], check["severity"], run.exit_code) == ("failed", "blocker", 1)
    assert check["message"] == "no backup of dumpsrc to verify"


def test_leftover_broken_link_short_retention_and_size_drop_fail(backup_target, run_checks) -> None:
    (backup_target.folder / "202611240300.dumpsrc.sql").write_text("-- half a dump")
    _stopped(backup_target.folder / "202611240300.dumpsrc.sql")
    os.unlink(backup_target.folder / "latest.dumpsrc.sql.gz")
    os.symlink("199901010000.dumpsrc.sql.gz", backup_target.folder / "latest.dumpsrc.sql.gz")
    backup_target.newest.write_bytes(gzip.compress(b"-- MariaDB dump\n-- Dump completed\n"))
    backup_target.write_profile(backups={"retention": 30, "required_tables": []})
    run = run_checks(backup_target.profile_path, "-k", "test_backups")
    assert run.check("test_no_leftover_uncompressed_dumps")["message"] == (
        "uncompressed dumps left behind (gzip failed after the dump): 202611240300.dumpsrc.sql"
    )
    assert (
        run.check("test_latest_links_point_to_backups")["message"]
        == "broken latest links: latest.dumpsrc.sql.gz"
    )
    filling = run.check("test_retention_is_kept[dumpsrc]")
    assert filling["outcome"] == "passed"  # six nights of a new installation, none missing
    assert "6 backup(s) of dumpsrc (retention 30); oldest restorable" in filling["message"]
    assert "; still filling up: every scheduled run since the oldest backup left one" in filling["message"]
    assert "less than 0.5 x the median" in run.check("test_backup_size_has_not_dropped[dumpsrc]")["message"]
    assert run.exit_code == 1


def test_migrate_takes_a_backup_first_unless_told_not_to(target, tmp_path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    target.add("V1__t.sql", "CREATE TABLE gene (id INT PRIMARY KEY);\n")
    target.write_profile(database={"user": "root", "password": ""})
    _backup_profile(target, folder)
    skipped = deploycheck("migrate", "--no-backup", "--to", "1", "--profile", str(target.profile_path))
    assert skipped.returncode == 0 and list(folder.iterdir()) == []
    target.add("V2__u.sql", "CREATE TABLE disease (id INT PRIMARY KEY);\n")
    result = deploycheck("migrate", "--profile", str(target.profile_path))
    assert result.returncode == 0, result.stderr
    assert "taking a backup" in result.stderr
    (made,) = folder.iterdir()
    checked = check_backup(made)
    assert checked.is_intact and set(checked.dump.real_tables) == {"gene", "deploycheck_schema_history"}
    assert deploycheck("migrate", "--profile", str(target.profile_path)).returncode == 0
    assert len(list(folder.iterdir())) == 1  # nothing pending: no second backup


# -- the same folder over SSH ---------------------------------------------------


def _ssh_cfg(sshd, folder: Path, **extra) -> Backups:
    return Backups(
        source=sshd.url(folder),
        schedule="0 3 * * *",
        identity_file=sshd.identity,
        known_hosts_file=sshd.known_hosts,
        **extra,
    )


def test_remote_listing_over_ssh_equals_the_local_one(sshd, tmp_path, dumped) -> None:
    good, _, _ = dumped
    local = _folder(
        tmp_path, ["202611230300.app.sql.gz", "manual_2026-11-23_14-05-09.sql.gz", "202611240300.app.sql"]
    )
    (tmp_path / "202611240300.app.sql.gz").write_bytes(good.read_bytes())
    _stopped(tmp_path / "202611240300.app.sql", tmp_path / "202611240300.app.sql.gz")
    os.symlink("202611240300.app.sql.gz", tmp_path / "latest.app.sql.gz")
    os.symlink("gone.sql.gz", tmp_path / "latest.gone.sql.gz")
    remote = list_backups(_ssh_cfg(sshd, tmp_path))
    here = list_backups(local)
    assert [f.to_dict() for f in remote.files] == [f.to_dict() for f in here.files]
    assert (
        (remote.latest, remote.leftovers)
        == (here.latest, here.leftovers)
        == ({"app": "202611240300.app.sql.gz", "gone": None}, ["202611240300.app.sql"])
    )


def test_remote_backup_is_verified_by_streaming_and_fetched_with_its_checksum(sshd, tmp_path, dumped) -> None:
    good, _, counts = dumped
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / good.name).write_bytes(good.read_bytes())
    cfg = _ssh_cfg(sshd, folder)
    listing = list_backups(cfg)
    checked = check_in_source(listing.source, good.name, ["notes"])
    assert checked.is_intact and checked.dump.real_tables["notes"].rows == counts["notes"]
    copy = fetch(listing.source, good.name, tmp_path)
    assert copy.read_bytes() == good.read_bytes() and not list(tmp_path.glob(".*.partial"))


def test_unreachable_ssh_host_is_named(sshd, tmp_path) -> None:
    cfg = Backups(
        source=f"ssh://{sshd.user}@127.0.0.1:1{tmp_path}",
        identity_file=sshd.identity,
        known_hosts_file=sshd.known_hosts,
    )
    with pytest.raises(TargetUnreachable, match=r"ssh failed: .*Connection refused"):
        list_backups(cfg)


def test_checks_read_a_remote_backup_folder(backup_target, sshd, run_checks) -> None:
    backup_target.write_profile(
        backups={
            "source": sshd.url(backup_target.folder),
            "identity_file": str(sshd.identity),
            "known_hosts_file": str(sshd.known_hosts),
        }
    )
    run = run_checks(backup_target.profile_path, "-k", "test_backups")
    assert run.outcomes("backups") == BACKUP_CHECKS


def test_backups_without_databases_say_which_key_to_set(run_checks, tmp_path) -> None:
    """backups.source set, backups.databases empty and no database section: the checks of each
    database's backups said "backups not configured", though they are; they name what is
    missing and the key to set, as does the volume's room (no night's size without them)."""
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "202612010300.app.sql.gz").write_bytes(gzip.compress(b"-- Dump completed\n"))
    profile = tmp_path / "nodb.yml"
    profile.write_text(f"target: t\nbackups: {{source: '{folder}', schedule: '0 3 * * *'}}\n")
    run = run_checks(profile, "-k", "test_backups")
    said = (
        "backups.databases is empty in profile nodb and it has no database section to take the name "
        "from: which databases' backups to expect is not known; list them in backups.databases"
    )
    for name in ("test_backup_is_fresh[not-configured]", "test_backup_volume_has_room"):
        check = run.check(name)
        assert (check["outcome"], check["message"]) == ("skipped", said), name
    assert run.outcome("test_no_leftover_uncompressed_dumps") == "passed"
