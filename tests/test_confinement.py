"""Confinement: nothing a dump or a migration holds reaches beyond the scratch database.

One real server per module holds the target (`app`), a bystander database, a bystander account
and, beside it, a sentinel folder with a secret file. Each hostile dump is restored by
`backups drill` and each hostile migration rehearsed by `migrate --rehearse` (and probed by
`lint`): with `scratch: local`, with a user confined to the prefix on the shared server, with
root on a dedicated server (the guard alone stops it) and with a broad user on the shared server
(refused before anything runs). After every case the bystander, the accounts, the global
variables and the sentinel folder are as they were, the command exits 1 or 2 naming line and
statement kind, and no secret, file content or row value is in its output."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import trustme
import yaml

from runner.cli.main import main
from runner.db import without_values
from runner.errors import ConfinementRefused
from runner.migrations import sqltokens
from runner.migrations.guard import Guard
from runner.migrations.sqlsplit import Quoting, Statement, split_sql
from runner.migrations.sqltokens import read_part
from runner.sandbox.mariadb import MariaDBServer
from runner.sandbox.scratch import reach_beyond
from tests.conftest import confined_scratch

pytestmark = pytest.mark.slow

ROW_SECRET = "Row-Value-Secret-7"
FILE_SECRET = "File-Content-Secret-9"
ACCOUNT_SECRET = "Evil-Passw0rd-3"
SCRATCH_PASSWORD = "Scratch-Pw-1"  # confined_scratch's
SECRETS = (ROW_SECRET, FILE_SECRET, ACCOUNT_SECRET, SCRATCH_PASSWORD)

HEADER = f"""-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
CREATE TABLE `t` (`id` int NOT NULL, `v` varchar(200), PRIMARY KEY (`id`));
INSERT INTO `t` VALUES (1,'{ROW_SECRET}');
"""

# name -> (the escape, a word of the kind the refusal names); the escape starts at the line after HEADER
DUMPS: dict[str, tuple[str, str]] = {
    "executable-comment-drop-database": ("/*!40000 DROP DATABASE IF EXISTS `bystander`*/;", "DROP DATABASE"),
    "drop-qualified-table": ("DROP TABLE `bystander`.`secrets`;", "`bystander`"),
    "rename-qualified-table": ("RENAME TABLE `bystander`.`secrets` TO `stolen`;", "`bystander`"),
    "insert-qualified-table": ("INSERT INTO bystander.secrets VALUES (99,'x');", "`bystander`"),
    "grant": ("GRANT ALL ON *.* TO 'bystander'@'localhost';", "GRANT"),
    "create-user": (f"CREATE USER 'evil'@'%' IDENTIFIED BY '{ACCOUNT_SECRET}';", "CREATE USER"),
    "set-global": ("SET GLOBAL max_connections = 7;", "SET GLOBAL"),
    "global-variable": ("SET @@global.max_connections = 7;", "@@global."),
    "executable-comment-set-global": ("/*!40101 SET GLOBAL max_connections=7 */;", "SET GLOBAL"),
    "procedure-body": (
        "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN DROP DATABASE bystander; END ;;\nDELIMITER ;",
        "DROP DATABASE",
    ),
    "trigger-body": (
        "DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT"
        " ON t FOR EACH ROW UPDATE bystander.secrets SET v = NEW.v */;;\nDELIMITER ;\n"
        "INSERT INTO t VALUES (2,'x');",
        "`bystander`",
    ),
    "into-outfile": ("SELECT * FROM t INTO OUTFILE '{sentinel}/written';", "OUTFILE"),
    "load-file": ("INSERT INTO t VALUES (2, LOAD_FILE('{sentinel}/secret.txt'));", "LOAD_FILE"),
    "load-data": ("LOAD DATA LOCAL INFILE '{sentinel}/secret.txt' INTO TABLE t;", "LOAD DATA"),
    "data-directory": ("CREATE TABLE x (id INT) DATA DIRECTORY='{sentinel}';", "DATA DIRECTORY"),
    "install-soname": ("INSTALL SONAME 'ha_connect';", "INSTALL"),
    "named-lock-held-server-wide": ("SELECT GET_LOCK('deploycheck_migrate', 0);", "GET_LOCK"),
    "backup-lock": ("BACKUP LOCK t;", "BACKUP LOCK"),
    "lock-instance": ("/*!80000 LOCK INSTANCE FOR BACKUP */;", "LOCK INSTANCE"),
    "cache-index": ("CACHE INDEX t IN hot_cache;", "CACHE INDEX"),
    "load-index-into-cache": ("LOAD INDEX INTO CACHE t;", "LOAD INDEX"),
    "shutdown": ("SHUTDOWN;", "SHUTDOWN"),
    "kill": ("KILL 1;", "KILL"),
    "flush": ("FLUSH PRIVILEGES;", "FLUSH"),
    "reset-master": ("RESET MASTER;", "RESET"),
    "change-master": ("CHANGE MASTER TO MASTER_HOST='127.0.0.1';", "CHANGE MASTER"),
    "dynamic-sql": ("PREPARE p FROM @s;", "PREPARE"),
    "dynamic-sql-from-literals-one-of-which-grants": (
        "SET @v = IF(1, 'GRANT ALL ON *.* TO ''bystander''@''localhost''', 'DO 0'); PREPARE s FROM @v; EXECUTE s;",
        "GRANT",
    ),
    "dynamic-sql-dressed-as-perconas-rocksdb-switch": (
        "SET @rocksdb_enable_bulk_load = 'DROP DATABASE bystander'; PREPARE s FROM @rocksdb_enable_bulk_load;"
        " EXECUTE s; EXECUTE IMMEDIATE @rocksdb_enable_bulk_load;",
        "EXECUTE",
    ),
    "use": ("/*!40000 USE bystander */;", "USE"),
    # the server reads the next statement in GBK: `€\` ends in 0xAC 0x5C, one character, and the
    # quote after it ends the string where the guard (and the splitter) read an escaped quote
    "client-charset-saved-by-a-statement-the-server-skips": (
        "SET @old = CONCAT('g', 'bk'); /*!99999 SET @old = @@character_set_client */;"
        " SET character_set_client = @old; DO '\u20ac\\'; DROP DATABASE bystander; -- ';",
        "character set",
    ),
    "client-charset-that-hides-a-quote-after-another-statement": (
        "DELIMITER ;;\nDO 1; SET NAMES gbk;;\nDELIMITER ;\nDO '\u20ac\\'; DROP DATABASE bystander; -- ';",
        "character set",
    ),
    # MariaDB skips /*!99999 (MySQL 5.7+ only): the guard read `1 = bystander.secrets`, a column
    "conditional-comment-hides-the-start-of-a-statement": (
        "DELETE FROM /*!99999 t WHERE 1 = */ bystander.secrets;",
        "`bystander`",
    ),
    "conditional-comment-ends-inside-a-quote": (
        "/*!99999 '*/ DROP DATABASE bystander; -- ';",
        "that some servers skip",
    ),
    # the guard read a data INSERT's head only; MariaDB skipped its column list's comment into the rows
    "conditional-comment-in-a-data-inserts-columns-ends-in-its-rows": (
        "INSERT INTO t (id /*!99999 ) VALUES ('*/, v) SELECT id + 1, v FROM bystander.secrets -- ')\n;",
        "that some servers skip",
    ),
    # dropping the DEFINER clause took the executable comment's */ with it: `bystander */ .secrets` became one name
    "definer-rewrite-removes-a-comments-end": (
        "/*!50000 DELETE DEFINER = */ 'u'@'h' FROM bystander */ .secrets;",
        "`bystander`",
    ),
    # dropping it made `--WHERE` a comment: `t, bystander.secrets` became a table list
    "definer-rewrite-makes-a-comment": (
        "DROP TABLE t --DEFINER='u'@'h' WHERE\n, bystander.secrets;",
        "`bystander`",
    ),
    # a skipping server lets one /* nest (a quote is nothing to it): it skipped to the second */
    "conditional-comment-nests-a-comment-opened-in-a-quote": (
        "DROP /*!99999 '/*' */ TABLE t */ DATABASE bystander;",
        "that some servers skip",
    ),
    # the server reads `t<no-break space>WHERE<no-break space>1` as one name: the guard read WHERE
    "no-break-space-joined-name-hides-a-table-list": (
        "CREATE TABLE `t\u00a0WHERE\u00a01` (id INT); INSERT INTO `t\u00a0WHERE\u00a01` VALUES (1);"
        " DELETE FROM t\u00a0WHERE\u00a01, bystander.secrets USING t\u00a0WHERE\u00a01, bystander.secrets;",
        "`bystander`",
    ),
    "a-name-whose-upper-case-is-a-keyword-hides-a-table-list": (  # \u017fet (long s) upper-cased: SET
        "CREATE TABLE t2 (id INT); INSERT INTO t2 VALUES (1);"
        " DELETE FROM \u017fet, bystander.secrets USING t2 \u017fet, bystander.secrets;",
        "`bystander`",
    ),
    # a quoted variable name reads its quotes as strings do: under NO_BACKSLASH_ESCAPES `@'a\'` ends there
    "no-backslash-escapes-in-a-quoted-variable-name": (
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SET @'a\\' = 1, @@global.max_connections = 17, @b = '';",
        "@@global.",
    ),
    "dash-dash-and-a-control-character-is-a-comment": (
        "DELETE FROM --\x01 t WHERE 1 =\nbystander.secrets;",
        "`bystander`",
    ),
    "client-charset-that-hides-a-quote": ("SET NAMES gbk;", "character set"),
    "client-charset-from-a-variable": (
        "SET @x = CONCAT('g','bk'); SET character_set_client = @x;",
        "character set",
    ),
    "ansi-quotes-set-in-the-dump": (
        "/*!40101 SET sql_mode='ANSI_QUOTES' */; INSERT INTO \"bystander\".\"secrets\" VALUES (9,'x');",
        "`bystander`",
    ),
    "no-backslash-escapes-set-in-the-dump": (
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; INSERT INTO t VALUES (7, 'a\\'), (8, (SELECT v FROM bystander.secrets)); -- ');",
        "`bystander`",
    ),
    "comments-and-line-breaks-between-the-parts": (
        "DELETE FROM bystander /* a */ .\r\n/*!*/ `secrets`;",
        "`bystander`",
    ),
    "rename-away-under-a-numeric-name": ("RENAME TABLE t TO bystander.0x1f;", "`bystander`"),
    "sql-mode-changed-inside-one-multi-statement": (
        "DELIMITER ;;\nSET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\' ; CREATE DATABASE evil; -- ' ;;\nDELIMITER ;",
        "sql_mode changed",
    ),
    "client-charset-by-its-id": (
        "SET character_set_client = 28;\nSELECT '\udcbf\\' ; CREATE DATABASE evil; DROP TABLE t; -- ';",
        "character set",
    ),
    "client-charset-by-an-expression": ("SET character_set_client = CONCAT('g', 'bk');", "character set"),
    "merge-table-over-another-schema": (
        "CREATE TABLE m (id INT) ENGINE=MERGE UNION=(bystander.secrets);",
        "MERGE",
    ),
    "alter-rename-away": ("ALTER TABLE t RENAME TO bystander.moved;", "`bystander`"),
    "parenthesized-table": ("UPDATE (bystander.secrets) SET v = 'gone';", "`bystander`"),
    "quoted-load-file": ("INSERT INTO t VALUES (2, `LOAD_FILE`('{sentinel}/secret.txt'));", "LOAD_FILE"),
    "case-ends-no-table-list": (
        "INSERT INTO t SELECT 3, s.v FROM t a JOIN t b ON a.id = CASE WHEN 1 THEN 1 END, bystander.secrets s;",
        "`bystander`",
    ),
    "mysqldump-databases-add-drop-database": (
        "/*!40000 DROP DATABASE IF EXISTS `bystander`*/;\n"
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `bystander` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n"
        "USE `bystander`;",
        "DROP DATABASE",
    ),
    "mysqldump-all-databases": (
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysql` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n"
        "USE `mysql`;\nINSERT INTO `global_priv` VALUES ('%','evil','{}');",
        "CREATE DATABASE",
    ),
}

# name -> (the migration, a word of the kind the refusal names)
MIGRATIONS: dict[str, tuple[str, str]] = {
    "update-another-schema": ("UPDATE bystander.secrets SET v = 'gone';", "`bystander`"),
    "copy-out-of-another-schema": ("CREATE TABLE loot AS SELECT * FROM bystander.secrets;", "`bystander`"),
    "copy-other-sessions": (
        "CREATE TABLE loot AS SELECT info FROM information_schema.PROCESSLIST;",
        "other sessions (information_schema.PROCESSLIST)",
    ),
    "copy-other-sessions-under-a-folded-name": (  # the server matches \u0130 as i: PROCESSLIST
        "CREATE TABLE loot AS SELECT info FROM information_schema.PROCESSL\u0130ST;",
        "a name in information_schema beyond ASCII",
    ),
    "drop-database": ("DROP DATABASE bystander;", "DROP DATABASE"),
    "grant": ("GRANT ALL ON bystander.* TO 'bystander'@'localhost';", "GRANT"),
    "create-user": (f"CREATE USER 'evil'@'%' IDENTIFIED BY '{ACCOUNT_SECRET}';", "CREATE USER"),
    "executable-comment-set-global": ("/*!50000 SET GLOBAL max_connections = 7 */;", "SET GLOBAL"),
    "load-file": ("SET @x = LOAD_FILE('{sentinel}/secret.txt');", "LOAD_FILE"),
    "into-outfile": ("SELECT 1 INTO DUMPFILE '{sentinel}/written';", "DUMPFILE"),
    "procedure-body": (
        "DELIMITER //\nCREATE PROCEDURE p() BEGIN DELETE FROM bystander.secrets; END //\nDELIMITER ;",
        "`bystander`",
    ),
    "dynamic-sql": ("EXECUTE IMMEDIATE 'DROP DATABASE bystander';", "EXECUTE"),
    "conditional-comment-nests-a-comment": (
        "DELETE FROM /*!99999 '/*' */ ok WHERE 1 = */ bystander.secrets;",
        "that some servers skip",
    ),
    "dynamic-sql-from-a-computed-text": (
        "SET @v = CONCAT('DROP DATA', 'BASE bystander'); PREPARE s FROM @v; EXECUTE s;",
        "PREPARE",
    ),
    "dynamic-sql-whose-variable-changed-after-its-set": (
        "SET @v = 'SELECT 1'; SET @v = CONCAT('DROP ', 'DATABASE bystander'); PREPARE s FROM @v;",
        "PREPARE",
    ),
    "dynamic-sql-from-a-column-in-a-union": (
        "SET @v = (SELECT 'DO 0' FROM ok WHERE id = 1 UNION SELECT CONCAT('DROP ', 'DATABASE bystander'));"
        " PREPARE s FROM @v;",
        "PREPARE",
    ),
    "dynamic-sql-from-a-case-whose-results-a-conditional-comment-hides": (
        "SET @v = CASE WHEN /*!99999 (*/ 1 THEN CONCAT('DROP DATA', 'BASE bystander')"
        " /*!99999 ) THEN 'DO 0' */ END; PREPARE s FROM @v; EXECUTE s;",
        "PREPARE",
    ),
    "dynamic-sql-from-a-variable-whose-name-only-python-folds": (
        "SET @k = CONCAT('DROP DATA', 'BASE bystander'); SET @\u212a = 'DO 0'; PREPARE s FROM @k; EXECUTE s;",
        "PREPARE",
    ),
    # lint's probe read every statement as the default sql_mode does (its splitter asked no server)
    "no-backslash-escapes-hides-a-global-variable-from-lint": (
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SET @x = 'a\\', @@global.max_connections = 7 -- ';",
        "@@global.",
    ),
    "dynamic-sql-from-a-literal-naming-another-schema": (
        "PREPARE s FROM 'DELETE FROM bystander.secrets'; EXECUTE s;",
        "`bystander`",
    ),
    "no-backslash-escapes-hides-a-statement": (
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\' ; CREATE DATABASE evil; -- ';",
        "CREATE DATABASE",
    ),
    # DO (like VALUE, BEGIN, RETURNS) is an alias to the server; the guard read it as ending the table list
    "delete-after-an-alias-the-guard-read-as-a-clause": (
        "DELETE s FROM ok AS do, bystander.secrets AS s;",
        "`bystander`",
    ),
    # an index hint's FOR ORDER BY read as the UPDATE's ORDER BY: the table list seemed to end there
    "update-after-an-index-hint-for-order-by": (
        "UPDATE ok USE INDEX FOR ORDER BY (), bystander.secrets AS s SET s.v = 'gone';",
        "`bystander`",
    ),
    # sql_mode=ORACLE calls a procedure named as a statement, without CALL or parentheses
    "oracle-mode-calls-another-schemas-procedure": (
        "DELIMITER //\nSET sql_mode = 'ORACLE' // CREATE PROCEDURE p AS BEGIN bystander.wipe; END //\n"
        "DELIMITER ;\nCALL p;",
        "`bystander`",
    ),
    "merge-table-by-default-engine": (
        "SET default_storage_engine = MRG_MyISAM; CREATE TABLE m (id INT, v VARCHAR(100)) UNION=(bystander.secrets);",
        "`bystander`",
    ),
}


class Shared:
    """The module's server: target `app`, bystander database and account, sentinel folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sentinel = root / "sentinel"
        self.sentinel.mkdir()
        (self.sentinel / "secret.txt").write_text(FILE_SECRET)
        self.server = MariaDBServer(root / "shared").start()
        self.dedicated = MariaDBServer(root / "dedicated").start()
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE bystander")
            cur.execute("CREATE TABLE bystander.secrets (id INT PRIMARY KEY, v VARCHAR(100))")
            cur.execute("INSERT INTO bystander.secrets VALUES (1, %s)", (ROW_SECRET,))
            cur.execute("CREATE PROCEDURE bystander.wipe() DELETE FROM bystander.secrets")
            cur.execute("CREATE USER 'bystander'@'localhost' IDENTIFIED BY 'Bystander-Pw-5'")
            cur.execute("GRANT SELECT ON bystander.* TO 'bystander'@'localhost'")
            cur.execute("CREATE DATABASE app")
            cur.execute("CREATE TABLE app.users (id INT PRIMARY KEY, email VARCHAR(100))")
            cur.execute("INSERT INTO app.users VALUES (1, %s)", (ROW_SECRET,))
        self.confined = confined_scratch(self.server, "deploycheck_scratch_")

    def state(self) -> dict[str, object]:
        """What must not change: on both servers, and the sentinel folder."""
        found: dict[str, object] = {}
        for label, server in (("shared", self.server), ("dedicated", self.dedicated)):
            with server.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT user, host FROM mysql.user ORDER BY user, host")
                found[f"{label} accounts"] = cur.fetchall()
                cur.execute("SHOW GLOBAL VARIABLES")
                found[f"{label} globals"] = {k: v for k, v in cur.fetchall() if k not in _VOLATILE}
                cur.execute("SHOW DATABASES")
                found[f"{label} databases"] = sorted(n for (n,) in cur.fetchall())
                if label == "shared":
                    cur.execute("CHECKSUM TABLE bystander.secrets, app.users")
                    found["checksums"] = cur.fetchall()
        found["sentinel"] = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(self.sentinel.iterdir())
        }
        return found

    def profile(self, name: str, scratch: object, migrations: dict[str, str] | None = None) -> Path:
        folder = self.root / name
        (folder / "backup").mkdir(parents=True, exist_ok=True)
        (folder / "migrations").mkdir(exist_ok=True)
        for filename, sql in (migrations or {}).items():
            (folder / "migrations" / filename).write_text(sql)
        data = {
            "target": name,
            "database": {"socket": str(self.server.socket), "user": "root", "name": "app"},
            "migrations": {"dir": "migrations", "naming": "flyway"},
            "backups": {"source": "backup", "databases": ["app"]},
            "timeouts": {"default_s": 10},
            **({"scratch": scratch} if scratch != "local" else {}),
        }
        path = folder / "profile.yml"
        path.write_text(yaml.safe_dump(data))
        return path


_VOLATILE = {"gtid_binlog_pos", "gtid_current_pos", "gtid_slave_pos", "timestamp", "last_insert_id"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    setup = Shared(tmp_path_factory.mktemp("confinement"))
    yield setup
    setup.server.remove()
    setup.dedicated.remove()


def _scratch(shared: Shared, mode: str) -> object:
    if mode == "local":
        return "local"
    if mode == "confined":
        return shared.confined
    if mode == "broad":
        return {"socket": str(shared.server.socket), "user": "root", "prefix": "deploycheck_scratch_"}
    return {"socket": str(shared.dedicated.socket), "user": "root", "prefix": "deploycheck_scratch_"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def _line(before: str, escape: str) -> int:
    """The line of the escape's first statement (DELIMITER lines are the client's)."""
    lines = escape.split("\n")
    skipped = next(i for i, text in enumerate(lines) if not text.startswith("DELIMITER"))
    return before.count("\n") + 1 + skipped


def _assert_refused(code: int, output: str, mode: str, line: int, kind: str) -> None:
    __tracebackhide__ = True
    for secret in SECRETS:
        assert secret not in output
    if mode == "broad":  # refused before anything runs, naming the grant
        assert code == 2 and "may reach beyond deploycheck_scratch_* databases (" in output, output
        assert "ALL PRIVILEGES ON *.*" in output and "GRANT ALL ON `deploycheck\\_scratch\\_%`.*" in output
        return
    assert code == 1, output
    assert f"line {line} " in output or f":{line}:" in output, output
    assert kind in output, output


MODES = ["confined", "dedicated-root", "broad", "local"]


# Data INSERTs whose rows the guard may skip reading (only literals) or must read (anything else).
DATA_INSERTS = (
    "INSERT INTO `t` VALUES (1,'a\\'b'),(2,NULL),(3,0x00ff),(4,_binary 'x'),(5,-1.5e3),(6,X'0A')",
    "INSERT INTO `t\u00e4` VALUES (1,'\u00fc\udcff'),\n(2,'\\\u00fc')",  # a non-ASCII name; a byte that is not UTF-8
    "INSERT INTO t VALUES (2, LOAD_FILE('/etc/passwd'))",
    "INSERT INTO t VALUES (7, 'a\\'), (8, (SELECT v FROM bystander.secrets)); -- ')",
    'INSERT INTO t VALUES (1, "q""q"), (2, "\\"")',
    "INSERT INTO t VALUES (1,'a')\v",
    "INSERT INTO t VALUES (\u0661)",  # an Arabic-Indic digit: a digit to Python's re, not to the server
)


@pytest.mark.parametrize(
    "quoting", [Quoting(), Quoting(ansi_quotes=True), Quoting(backslash_escapes=False)], ids=str
)
def test_the_guard_reads_the_same_part_of_a_data_insert_with_re2_and_with_re(monkeypatch, quoting) -> None:
    """RE2 (installed) decides which INSERTs are only literal rows as re (the fallback) does: both
    read ASCII digits, spaces and letters only, as the server does."""
    with_re2 = [read_part(Statement(1, 1, text, quoting=quoting)) for text in DATA_INSERTS]
    monkeypatch.setattr(sqltokens, "re2", None)
    monkeypatch.setattr(sqltokens, "_ROWS", {})
    with_re = [read_part(Statement(1, 1, text, quoting=quoting)) for text in DATA_INSERTS]
    for text, fast, slow in zip(DATA_INSERTS, with_re2, with_re, strict=True):
        assert fast == slow, text
    assert with_re2[2] == DATA_INSERTS[2]  # LOAD_FILE: read whole, refused
    if quoting == Quoting():
        assert with_re2[0].endswith("VALUES ") and with_re2[1].endswith("VALUES ")  # rows: the head only


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(DUMPS))
def test_a_hostile_dump_changes_nothing_outside(shared, capsys, case, mode) -> None:
    escape, kind = DUMPS[case]
    before = shared.state()
    profile = shared.profile(f"dump-{case}-{mode}", _scratch(shared, mode))
    dump = HEADER + escape.replace("{sentinel}", str(shared.sentinel)) + "\n"
    name = "202601010300.app.sql.gz"
    (profile.parent / "backup" / name).write_bytes(gzip.compress(dump.encode("utf-8", "surrogateescape")))
    code = main(["backups", "drill", name, "--json", "--profile", str(profile)])
    out, err = capsys.readouterr()
    _assert_refused(code, out + err, mode, _line(HEADER, escape), kind)
    assert shared.state() == before
    if mode != "broad":
        (finding,) = [f for f in json.loads(out)["findings"] if f["blocking"]]
        assert finding["kind"] in ("confinement", "restore")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(MIGRATIONS))
def test_a_hostile_migration_changes_nothing_outside(shared, capsys, case, mode) -> None:
    sql, kind = MIGRATIONS[case]
    before = shared.state()
    hostile = "SELECT 1;\n" + sql.replace("{sentinel}", str(shared.sentinel)) + "\n"
    migrations = {"V1__ok.sql": "CREATE TABLE ok (id INT);\n", "V2__hostile.sql": hostile}
    profile = shared.profile(f"migration-{case}-{mode}", _scratch(shared, mode), migrations)
    code, output = _run(capsys, "migrate", "--rehearse", "--profile", str(profile))
    _assert_refused(code, output, mode, _line("SELECT 1;\n", sql), kind)
    if mode != "broad":
        assert "FAILED  V2__hostile.sql" in output and "rehearse: FAILED" in output
    lint_code, lint_output = _run(capsys, "lint", "--profile", str(profile))  # the ALGORITHM probe
    assert lint_code in (0, 1, 2) and not any(secret in lint_output for secret in SECRETS)
    assert shared.state() == before
    with shared.server.connect("app") as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert sorted(n for (n,) in cur.fetchall()) == ["users"]  # the rehearsal failed: nothing applied


def test_the_targets_own_name_is_rehearsed_on_the_scratch_database(shared, capsys) -> None:
    """`ALTER TABLE app.users` means the target's table: rehearsed on the copy, the output says so."""
    migrations = {"V1__qualified.sql": "ALTER TABLE app.users ADD COLUMN note VARCHAR(10) NULL;\n"}
    profile = shared.profile("own-name", _scratch(shared, "confined"), migrations)
    code, output = _run(capsys, "migrate", "--rehearse", "--profile", str(profile))
    assert code == 0 and "applied V1__qualified.sql" in output, output
    assert "names qualified with the target's database `app` were run on the scratch database" in output
    with shared.server.connect("app") as conn, conn.cursor() as cur:
        cur.execute("SHOW COLUMNS FROM users")
        assert [row[0] for row in cur.fetchall()] == ["id", "email"]


def test_a_production_view_that_reads_another_schema_is_not_copied(shared, capsys) -> None:
    """The rehearsal's copy of production's schema passes the guard too."""
    with shared.server.connect("app") as conn, conn.cursor() as cur:
        cur.execute("CREATE VIEW peek AS SELECT v FROM bystander.secrets")
    try:
        migrations = {"V1__ok.sql": "CREATE TABLE ok (id INT);\n"}
        profile = shared.profile("view-copy", _scratch(shared, "dedicated-root"), migrations)
        code, output = _run(capsys, "migrate", "--rehearse", "--profile", str(profile))
        assert (
            code == 1 and "cannot copy view `peek` to the scratch server: a name in another schema" in output
        )
        assert ROW_SECRET not in output
    finally:
        with shared.server.connect("app") as conn, conn.cursor() as cur:
            cur.execute("DROP VIEW peek")


def test_a_healthy_mysqldump_with_gtid_and_definers_restores_on_a_confined_user(shared, capsys) -> None:
    """mysqldump of a GTID server: GTID_PURGED and SQL_LOG_BIN are skipped, DEFINERs dropped, both said."""
    dump = (
        "SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;\nSET @@SESSION.SQL_LOG_BIN= 0;\n"
        "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5';\n"
        + HEADER
        + "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
        "/*!50001 VIEW `v` AS SELECT `id` FROM `t` */;\n"
        "SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;\n"
    )
    profile = shared.profile("gtid", _scratch(shared, "confined"))
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(dump.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
    assert code == 0, output
    assert "GTID_PURGED and SQL_LOG_BIN statements were skipped" in output
    assert "DEFINER clauses were dropped" in output and ROW_SECRET not in output


def test_a_dump_naming_the_targets_database_lands_in_the_scratch_database(shared, capsys) -> None:
    dump = (
        HEADER + "/*!50001 CREATE VIEW `v` AS SELECT `app`.`t`.`id` AS `id` FROM `app`.`t` */;\n"
    )  # as MySQL shows
    profile = shared.profile("own-dump", _scratch(shared, "confined"))
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(dump.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--json", "--profile", str(profile))
    assert code == 0 and json.loads(output[: output.rindex("}") + 1])["tables"] == {"t": 1}, output
    assert "names qualified with the target's database `app` were run on the scratch database" in output


def test_a_restore_failure_names_kind_and_line_without_the_values(shared, capsys) -> None:
    dump = HEADER + f"INSERT INTO `t` VALUES (1,'{ROW_SECRET}-again');\n"
    profile = shared.profile("duplicate", _scratch(shared, "confined"))
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(dump.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
    assert code == 1 and "(dump line 7, INSERT INTO `t`): (1062) Duplicate entry '…'" in output, output
    assert ROW_SECRET not in output


def test_a_broad_user_on_a_server_of_its_own_is_accepted(shared, capsys) -> None:
    profile = shared.profile("dedicated", _scratch(shared, "dedicated-root"))
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(HEADER.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
    assert code == 0, output
    assert "the server holds nothing else: a dedicated scratch server" in output


def test_a_database_that_merely_starts_with_the_prefix_is_somebody_elses(shared, capsys) -> None:
    """Root on a server holding `deploycheck_scratch_live` (not a name deploycheck gives) is refused."""
    with shared.dedicated.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE deploycheck_scratch_live")
    try:
        profile = shared.profile("prefixed-live", _scratch(shared, "dedicated-root"))
        (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(HEADER.encode()))
        code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
        assert code == 2 and "the server holds other databases (`deploycheck_scratch_live`)" in output, output
    finally:
        with shared.dedicated.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE deploycheck_scratch_live")


@pytest.mark.parametrize(
    ("grants", "reach"),
    [
        (
            [
                "GRANT USAGE ON *.* TO `u`@`%`",
                "GRANT ALL PRIVILEGES ON `deploycheck\\_scratch\\_%`.* TO `u`@`%`",
            ],
            [],
        ),
        (["GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*ABC'"], []),
        (["GRANT FILE ON *.* TO `u`@`%`"], ["FILE ON *.*"]),
        (["GRANT SELECT ON `app`.* TO `u`@`%`"], ["SELECT ON `app`.*"]),
        (
            ["GRANT ALL PRIVILEGES ON `deploycheck_scratch_%`.* TO `u`@`%`"],
            ["ALL PRIVILEGES ON `deploycheck_scratch_%`.*"],
        ),
        (
            ["GRANT ALL PRIVILEGES ON `deploycheck\\_%`.* TO `u`@`%`"],
            ["ALL PRIVILEGES ON `deploycheck\\_%`.*"],
        ),
        (
            ["GRANT ALL PRIVILEGES ON `deploycheck\\_scratch\\_%`.* TO `u`@`%` WITH GRANT OPTION"],
            ["GRANT OPTION (ALL PRIVILEGES ON `deploycheck\\_scratch\\_%`.*)"],
        ),
        (["GRANT `dba` TO `u`@`%`"], ["a role (`dba`)"]),
        (["GRANT SUPER, CREATE USER ON *.* TO 'u'@'%'"], ["SUPER, CREATE USER ON *.*"]),
    ],
)
def test_grants_that_reach_beyond_the_prefix(grants, reach) -> None:
    assert [r.grant for r in reach_beyond(grants, "deploycheck_scratch_")] == reach
    assert not any("*ABC" in r.grant for r in reach_beyond(grants, "deploycheck_scratch_"))


def test_scratch_tls_is_used_for_every_scratch_connection(shared, capsys, tmp_path) -> None:
    """`scratch.tls` as the database's: a server that offers no TLS is refused, nothing runs."""
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    scratch = {
        **confined_scratch(shared.server, "deploycheck_scratch_"),
        "tls": {"ca": str(ca), "required": True},
    }
    profile = shared.profile("tls", scratch)
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(HEADER.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
    assert code == 3 and "cannot connect to database '' as 'u_deploycheck_scratch' at socket" in output, (
        output
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t PARTITION (p), bystander.t",
        "DESCRIBE bystander.t",
        "SELECT * FROM (SELECT 1) AS s, bystander.t",
        "SELECT * FROM a JOIN b ON a.x = b.y, bystander.t",
        "CREATE INDEX i ON bystander.t (a)",
        "DROP INDEX i ON bystander.t",
        "UPDATE t SET a = (SELECT v FROM bystander.s)",
        "SELECT bystander.s.nextval",
        "SELECT NEXTVAL(bystander.s)",
        "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = bystander.f()",
        "INSERT bystander.t VALUES (1)",
        "INSERT HIGH_PRIORITY bystander.t VALUES (1)",
        "DELIMITER //\nCREATE PACKAGE BODY bystander.p AS BEGIN NULL; END //",
        "ALTER TABLE t RENAME AS bystander.t",
        "UPDATE other.2fa SET x = 1",
        "DROP /*!40000 DATABASE */ bystander",
        "CREATE OR REPLACE DATABASE bystander",
        "SET @@global . max_connections = 1",
        "DROP TABLE bystander.12",
        "CREATE TABLE bystander.1e5 (a INT)",
        "SET character_set_client = 28",
        "SET STATEMENT character_set_client = 28 FOR SELECT 1",
        "SET @@LOCAL.character_set_client = 28",
        "DELIMITER ;;\nSELECT 1; SET @@session.sql_mode = 'ANSI_QUOTES'; SELECT 1 ;;",
        "SET @@session.character_set_client = CONCAT('g', 'bk')",
        "CREATE TABLE m (a INT) ENGINE = CONNECT TABLE_TYPE=CSV FILE_NAME='/etc/passwd'",
        "UPDATE (bystander.t) SET a = 1",
        "SELECT * FROM t, ((bystander.t))",
        "SELECT * FROM t WHERE a IN (SELECT b FROM (bystander.t))",
        "SELECT `LOAD_FILE`('/etc/passwd')",
        "CREATE TABLE m (a INT) ENGINE='MERGE'",
        "CREATE TABLE m (a INT) UNION=(bystander.t)",
        "ALTER TABLE m UNION (t, bystander.t)",
        "SELECT * FROM t a JOIN b ON a.x = CASE WHEN 1 THEN 2 END, bystander.t",
        "SELECT * FROM t value, bystander.t",  # VALUE, BEGIN, DO, RETURNS: aliases to the server
        "UPDATE t AS begin, bystander.t AS s SET s.a = 1",
        "SELECT * FROM (SELECT 1) returns, bystander.t",
        "SELECT * FROM do FORCE INDEX (i), bystander.t",
        "DESC bystander.t",
        "DELETE s FROM t USE INDEX FOR ORDER BY (i), bystander.t AS s",
        "UPDATE t IGNORE INDEX FOR GROUP BY (i), bystander.t AS s SET s.a = 1",
        "DELIMITER //\nCREATE PROCEDURE p AS BEGIN IF 1 THEN sys.ps_setup_reload_saved; END IF; END //",
        "DELIMITER //\nCREATE PROCEDURE p AS BEGIN <<l>> bystander.wipe; END //",
        "SHOW TABLES FROM bystander",  # SHOW names a schema alone after FROM/IN
        "SHOW FULL TABLES IN `bystander` LIKE 's%'",
        "SHOW TABLE STATUS FROM bystander",
        "SHOW COLUMNS FROM secrets FROM bystander",
        "SHOW INDEX FROM secrets IN bystander",
        "SHOW COLUMNS IN bystander.secrets",
        "SHOW TRIGGERS FROM bystander",
        "SHOW EVENTS IN bystander",
        "SHOW OPEN TABLES FROM bystander",
        "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SHOW TABLES FROM bystander; END //",
        "SHOW GRANTS FOR 'root'@'localhost'",  # SHOW of accounts, sessions, replication, the server
        "SHOW FULL PROCESSLIST",
        "SHOW ENGINE INNODB STATUS",
        "SHOW ALL SLAVES STATUS",
        "SHOW SLAVE 'primary' STATUS",
        "SHOW BINARY LOGS",
        "SHOW EXPLAIN FOR 1",
        "SHOW COLUMNS FROM columns FROM bystander",  # a table named like a SHOW word fills the slot
        "SHOW FIELDS FROM fields IN bystander",
        "SHOW INDEX FROM indexes IN bystander",
        "SHOW EXTENDED FULL COLUMNS FROM columns IN bystander",
        "PREPARE s FROM 'SHOW COLUMNS FROM columns FROM bystander'",
        "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SHOW COLUMNS FROM columns FROM bystander; END;;",
        "DROP TABLE /*!1234information_schema*/.secrets",  # under 5 digits no version: the name's
        "INSERT INTO t SELECT info FROM information_schema.PROCESSLIST",  # what SHOW may not, nor may these
        "SELECT * FROM `INFORMATION_SCHEMA`.`user_privileges`",
        "SELECT information_schema.processlist.info FROM t",
        "SELECT g.grantee FROM t JOIN information_schema.ENABLED_ROLES g ON 1 = 1",
        "PREPARE s FROM 'SELECT * FROM information_schema.SCHEMA_PRIVILEGES'",
        # the server finds information_schema's tables case-blind as utf8mb3_general_ci: \u0130 is i to it,
        # the Kelvin sign k
        "SELECT * FROM information_schema.PROCESSL\u0130ST",
        "PREPARE s FROM 'SELECT * FROM information_schema.user_priv\u0130leges'",
        "SELECT * FROM information_schema.INNODB_LOC\u212a_WAITS",
        "SELECT trx_query FROM information_schema.INNODB_TRX",  # other sessions' statements, as SHOW ENGINE
        "SELECT lock_data FROM information_schema.INNODB_LOCKS",  # their locked rows' keys
    ],
)
def test_guard_refuses_every_way_out(sql) -> None:
    (statement,) = split_sql(sql)
    with pytest.raises(ConfinementRefused):
        Guard("deploycheck_scratch_x", "app").check(statement)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a.x FROM t a ORDER BY a.x DESC, a.y",
        "ALTER TABLE t ALTER COLUMN c SET DEFAULT 0",
        "CREATE TABLE files (directory VARCHAR(10), n DECIMAL(5,2) DEFAULT 1.5)",
        "CREATE TABLE p (a INT) PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS THAN (10))",
        "UPDATE gene g JOIN entity e ON e.gene_id = g.id SET g.note = e.note",
        "DELETE e FROM entity e JOIN gene g ON e.gene_id = g.id WHERE g.id = 3",
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = NEW.b",
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()",
        "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS c WHERE c.table_name = 'processlist'",
        "SHOW COLUMNS FROM processlist IN information_schema",
        "SELECT 'GRANT ALL ON *.* TO x; DROP DATABASE y' AS text_only",
        "SELECT t.1e5, 1.5, .5e1, t.a FROM t WHERE t.b > 0.5",
        "SET character_set_client = utf8mb4, sql_mode = ''",
        "SET @@session.character_set_client = 'latin1'",
        "SELECT REPLACE(t.a, 'x', 'y'), INSERT(t.a, 1, 1, 'z') FROM t WHERE t.a LIKE ('x%')",
        "SELECT CASE WHEN t.a THEN t.b ELSE t.c END FROM t, u WHERE u.x IN (t.a, t.b)",
        "SELECT * FROM (t JOIN u ON t.a = u.b), v",
        "SELECT a.x FROM t a UNION (SELECT b.x FROM u b)",
        "/*!50003 SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO' */",
        "CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO DELETE FROM t WHERE t.a < 0",
        "CREATE FUNCTION f(a INT) RETURNS INT DETERMINISTIC RETURN (SELECT t.b FROM t WHERE t.a = a)",
        "SELECT a.x FROM t a ORDER BY a.x DESC",
        "DELIMITER //\nCREATE PROCEDURE p AS r t%ROWTYPE; BEGIN r.a := 1; SELECT r.a > t.b; END //",
        "SHOW TABLES",
        "SHOW WARNINGS",
        "SHOW FULL COLUMNS FROM t",
        "SHOW INDEX IN t IN deploycheck_scratch_x",
        "SHOW TABLE STATUS FROM information_schema LIKE 'x'",
        "SHOW TABLES FROM deploycheck_scratch_x",
        "SHOW ENGINES",
        "SHOW FULL TABLES",
        "SELECT t.show FROM t",  # a column named show: after a dot, not a SHOW statement
        "CREATE VIEW v AS SELECT e.show FROM shows e",
        "INSERT INTO shows (id) SELECT s.show FROM shows s",
        "SELECT s.id FROM t s WHERE MATCH(s.show) AGAINST ('x' IN BOOLEAN MODE)",
        "SELECT t.show FROM t WHERE id = 1 LOCK IN SHARE MODE",
        "SELECT x.show FROM app x",  # a table named like the target's database
        "SHOW TABLES WHERE Tables_in_deploycheck_scratch_x IN (SELECT 'app' FROM t)",
        "DELIMITER //\nCREATE PROCEDURE p() BEGIN SHOW WARNINGS; SELECT a FROM t WHERE a IN (1); END //",
    ],
)
def test_guard_lets_ordinary_statements_through(sql) -> None:
    (statement,) = split_sql(sql)
    assert Guard("deploycheck_scratch_x", "app").check(statement) is statement


@pytest.mark.parametrize(
    ("sql", "runs"),
    [
        ("SHOW TABLES FROM app", "SHOW TABLES FROM `deploycheck_scratch_x`"),
        ("SHOW COLUMNS FROM t IN `app`", "SHOW COLUMNS FROM t IN `deploycheck_scratch_x`"),
        ("SHOW COLUMNS IN app.t", "SHOW COLUMNS IN `deploycheck_scratch_x`.t"),
        ("SHOW COLUMNS FROM app.t", "SHOW COLUMNS FROM `deploycheck_scratch_x`.t"),
        ("SHOW COLUMNS IN app.t.c", "SHOW COLUMNS IN `deploycheck_scratch_x`.t.c"),  # each name once
        ("SHOW COLUMNS FROM columns FROM app", "SHOW COLUMNS FROM columns FROM `deploycheck_scratch_x`"),
        (
            "DELIMITER //\nSHOW TABLES IN app; SHOW TABLES IN app //",
            "SHOW TABLES IN `deploycheck_scratch_x`; SHOW TABLES IN `deploycheck_scratch_x`",
        ),
    ],
)
def test_show_of_the_targets_own_schema_reads_the_scratch_database(sql, runs) -> None:
    (statement,) = split_sql(sql)
    assert Guard("deploycheck_scratch_x", "app").check(statement).text == runs


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + ", ".join(["a.show"] * 16000) + " FROM deploycheck_scratch_x.t a",
        "SHOW " * 20000 + "TABLES FROM deploycheck_scratch_x",
        "SET @v = " + "(" * 20000 + "'x'" + ")" * 20000,  # each level read again: at most 32
        "SET " + ",".join(["sql_mode=1"] * 18000),
        "SELECT " + " ".join(["/*!80000 a*/"] * 30000),
        "SELECT 1 " + "/*!" * 130000,
        "INSERT INTO t (`a" + "``a" * 30 + "`) SELECT 1",  # `` read as one name or two: hours
    ],
    ids=[
        "columns-named-show",
        "show-repeated",
        "parentheses",
        "sql-modes",
        "comments",
        "unclosed",
        "backticks",
    ],
)
def test_the_guard_reads_a_long_statement_in_one_pass(sql) -> None:
    """Each token is read a bounded number of times: a crafted dump line or migration of a few
    hundred KB must not hold the drill for minutes (nor a column list for hours)."""
    (statement,) = split_sql(sql)
    started = time.monotonic()
    with contextlib.suppress(ConfinementRefused):
        Guard("deploycheck_scratch_x", "app").check(statement)
    assert time.monotonic() - started < 10  # one pass: 2 s at most here; quadratic: a minute or more


IDEMPOTENT = (
    "SET @sql = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
    " AND TABLE_NAME = 'users' AND COLUMN_NAME = 'note') = 0,\n"
    "  'ALTER TABLE users ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT ''it''''s'' COMMENT \\'(x)\\'',"
    " 'SELECT 1');\nPREPARE s FROM @sql;\nEXECUTE s;\nDEALLOCATE PREPARE s;\n"
)


def _verdicts(sql: str) -> list[str]:
    """What the guard does with each statement of `sql` in turn, up to the first refusal."""
    guard, found = Guard("deploycheck_scratch_x", "app"), []
    for statement in split_sql(sql):
        try:
            found.append("run" if guard.check(statement) is statement else "skip")
        except ConfinementRefused as exc:
            return [*found, f"refused: {exc.kind}"]
    return found


@pytest.mark.parametrize(
    ("sql", "verdicts"),
    [
        (IDEMPOTENT, ["run"] * 4),
        (  # the other common shape: a scalar SELECT of IF(...), an alias, := and a quoted name
            "SET @`Q` := (SELECT IF(COUNT(*) = 0, 'CREATE INDEX i ON t (a)', 'DO 0') AS q FROM"
            " information_schema.STATISTICS WHERE index_name = 'i'); PREPARE st FROM @q; EXECUTE st;"
            " EXECUTE st USING @a, @b; DROP PREPARE st;",
            ["run"] * 5,
        ),
        ("SET @v = CASE WHEN 1 THEN 'SELECT 1' WHEN 2 THEN NULL END; PREPARE s FROM @v;", ["run"] * 2),
        ("PREPARE s FROM 'SELECT 1'; EXECUTE s;", ["run"] * 2),
        (  # the text was fixed at PREPARE: what @v holds later does not run
            "SET @v = 'DO 0'; PREPARE s FROM @v; SET @v = CONCAT('DROP ', 'DATABASE x'); EXECUTE s;",
            ["run"] * 4,
        ),
        (
            "SET @rocksdb_enable_bulk_load = IF (@rocksdb_is_supported, 'SET SESSION rocksdb_bulk_load = 1',"
            " 'SET @rocksdb_dummy_bulk_load = 0'); PREPARE s FROM @rocksdb_enable_bulk_load; EXECUTE s;"
            " DEALLOCATE PREPARE s;",
            ["run", "skip", "skip", "skip"],
        ),
        ("SET @v = IF(1, 'DROP DATABASE x', 'DO 0'); PREPARE s FROM @v;", ["run", "refused: DROP DATABASE"]),
        ("SET @v = 'DO 0'; DO 1; PREPARE s FROM @v;", ["run", "run", "refused: PREPARE"]),
        ("SET @v = 'DO 0', @w = 1; PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        ("SET @v = 'DO 0' 'x'; PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        ("SET @v = IF(1, 'DO 0', @w); PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        ("SET @v = (SELECT 'DO 0', v FROM t); PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        (
            "SET @v = (SELECT 'DO 0' FROM t WHERE end = 1 UNION SELECT v FROM t); PREPARE s FROM @v;",
            ["run", "refused: PREPARE"],
        ),
        ("SET @v = (SELECT 'DO 0' FROM t INTO @w); PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        ("SET @v = CASE WHEN 1 THEN 'DO 0' ELSE v END; PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        (
            "SET @v = 'DO 0; DROP DATABASE x'; PREPARE s FROM @v;",
            ["run", "refused: SET statement or several"],
        ),
        ("SET @v = 'SET GLOBAL x = 1'; PREPARE s FROM @v;", ["run", "refused: SET statement"]),
        ("SET @v = 'PREPARE t FROM @w'; PREPARE s FROM @v;", ["run", "refused: dynamic SQL again"]),
        ("SET @v = 'UPDATE app.users SET a = 1'; PREPARE s FROM @v;", ["run", "refused: target's database"]),
        ("SET @v = 'CREATE DEFINER=x@y VIEW w AS SELECT 1'; PREPARE s FROM @v;", ["run", "refused: DEFINER"]),
        (
            "SET @v = 'SELECT \\'x\\' FROM bystander.t'; PREPARE s FROM @v;",
            ["run", "refused: `bystander`"],
        ),
        ("PREPARE s FROM 'GRANT ALL ON *.* TO x';", ["refused: GRANT"]),
        (  # a server that skips the comment (MariaDB) runs the SET's CONCAT, not 'DO 0'
            "SET @v = IF(/*!99999 (*/ 1 /*!99999 ) = (1 */, CONCAT('DROP ', 'DATABASE x')"
            " /*!99999 ), 'DO 0' */, 'DO 1'); PREPARE s FROM @v;",
            ["run", "refused: PREPARE"],
        ),
        ("/*!99999 SET @v = 'DO 0' */; PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        ("/*M!100000 SET @v = 'DO 0' */; PREPARE s FROM @v;", ["run", "refused: PREPARE"]),
        (  # deeper than 32 levels: not read for its literals (the server stops at about 600)
            "SET @v = " + "IF(1," * 500 + "'SELECT 1'" + ",'SELECT 2')" * 500 + "; PREPARE s FROM @v;",
            ["run", "refused: PREPARE"],
        ),
        (
            "SET @v = " + "IF(1," * 30 + "'SELECT 1'" + ",'SELECT 2')" * 30 + "; PREPARE s FROM @v;",
            ["run", "run"],
        ),
        ("PREPARE s FROM /*!99999 '*/ @w -- ';", ["refused: that some servers skip"]),
        (
            "PREPARE s FROM '/*!99999 ''*/ DROP DATABASE x; -- ''';",
            ["refused: that some servers skip"],
        ),
        ("PREPARE s FROM '/*!40101 DO 0 */';", ["run"]),
        (  # MySQL 8's SHOW CREATE TABLE: one opener, judged run and skipped
            "CREATE TABLE g (a INT, b INT /*!80023 INVISIBLE */, c INT /*!80023 INVISIBLE */);",
            ["run"],
        ),
        ("DROP TABLE t /*!99999 ( */ /*!99999 , */ x.t;", ["run"]),  # skipped: `t x.t`, a syntax error
        ("DROP TABLE t /*!99999 ( */ /*!50000 , */ x.t;", ["refused: `x`"]),
        ("DROP TABLE t /*!99999 ( */ /*!80000 , */ x.t;", ["refused: that some servers skip"]),
        ("DO 1; SET NAMES gbk;", ["run", "refused: character set"]),  # (the guard's own check)
        (  # MariaDB skips the save: @old still holds gbk
            "SET @old = CONCAT('g', 'bk'); /*!99999 SET @old = @@character_set_client */;"
            " SET character_set_client = @old;",
            ["run", "run", "refused: character set"],
        ),
        (  # str.lower() folds the Kelvin sign into k; the server keeps @\u212a and @k apart
            "SET @k = CONCAT('DROP ', 'DATABASE x'); SET @\u212a = 'DO 0'; PREPARE s FROM @k;",
            ["run", "run", "refused: PREPARE"],
        ),
        (
            "SET @ka = CONCAT('g', 'bk'); SET @\u212aa = @@character_set_client; SET character_set_client = @ka;",
            ["run", "run", "refused: character set"],
        ),
        ("PREPARE s FROM @v;", ["refused: PREPARE"]),
        ("EXECUTE s;", ["refused: EXECUTE"]),
        ("PREPARE s FROM 'DO 0'; EXECUTE s USING (SELECT v FROM bystander.t);", ["run", "refused: EXECUTE"]),
        ("PREPARE immediate FROM 'DO 0'; EXECUTE IMMEDIATE 'DROP DATABASE x';", ["run", "refused: EXECUTE"]),
    ],
)
def test_dynamic_sql_runs_only_from_literals_that_pass_the_guard(sql: str, verdicts: list[str]) -> None:
    """The idempotent migration (`SET @v = IF(...)` then PREPARE) runs when the SET is the
    statement just before and each text it may hold passes as a statement; anything else that
    could put other text into PREPARE is refused."""
    found = _verdicts(sql)
    assert len(found) == len(verdicts) and found[:-1] == verdicts[:-1], found
    if verdicts[-1].startswith("refused: "):
        assert found[-1].startswith("refused: ") and verdicts[-1].removeprefix("refused: ") in found[-1], (
            found
        )
    else:
        assert found[-1] == verdicts[-1], found


def test_an_idempotent_migration_is_rehearsed_as_the_client_applies_it(shared, capsys) -> None:
    """Dynamic SQL from literals, on the confined scratch server: the column is added to the copy
    (the UPDATE after it fails without it), then the check finds it and runs `SELECT 1`; the
    target is untouched. The guard sends the statements unchanged: the server reads the text."""
    profile = shared.profile(
        "idempotent",
        _scratch(shared, "confined"),
        {"V1__note.sql": IDEMPOTENT * 2 + "UPDATE users SET note = 'n' WHERE id = 0;\n"},
    )
    code, output = _run(capsys, "migrate", "--rehearse", "--profile", str(profile))
    assert code == 0 and "applied V1__note.sql" in output, output
    with shared.server.connect("app") as conn, conn.cursor() as cur:
        cur.execute("SHOW COLUMNS FROM users")
        assert [row[0] for row in cur.fetchall()] == ["id", "email"]


def test_a_percona_dump_with_rocksdb_switches_restores_and_says_so(shared, capsys) -> None:
    """Percona Server's mysqldump prepares its RocksDB bulk-load switches from variables: skipped."""
    switch = (
        "/*!50717 SELECT COUNT(*) INTO @rocksdb_has_p_s_session_variables FROM INFORMATION_SCHEMA.TABLES"
        " WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'session_variables' */;\n"
        "/*!50717 SET @rocksdb_get_is_supported = IF (@rocksdb_has_p_s_session_variables, 'SELECT COUNT(*)"
        " INTO @rocksdb_is_supported FROM performance_schema.session_variables WHERE"
        " VARIABLE_NAME=\\'rocksdb_bulk_load\\'', 'SELECT 0') */;\n"
        "/*!50717 PREPARE s FROM @rocksdb_get_is_supported */;\n/*!50717 EXECUTE s */;\n"
        "/*!50717 DEALLOCATE PREPARE s */;\n"
    )
    tail = (
        "/*!50112 SET @disable_bulk_load = IF (@is_rocksdb_supported, 'SET SESSION rocksdb_bulk_load ="
        " @old_rocksdb_bulk_load', 'SET @dummy_rocksdb_bulk_load = 0') */;\n"
        "/*!50112 PREPARE s FROM @disable_bulk_load */;\n/*!50112 EXECUTE s */;\n"
        "/*!50112 DEALLOCATE PREPARE s */;\n"
    )
    profile = shared.profile("percona", _scratch(shared, "confined"))
    dump = switch + HEADER + tail
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(dump.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--json", "--profile", str(profile))
    assert code == 0 and json.loads(output[: output.rindex("}") + 1])["tables"] == {"t": 1}, output
    assert "RocksDB bulk-load switches" in output and ROW_SECRET not in output


def test_a_data_insert_whose_column_list_opens_a_backtick_is_read_whole() -> None:
    """An open backtick in the column list runs on, for the server, into what looks like rows:
    such an INSERT is read whole, not head only; closed names (`--complete-insert`) stay fast."""
    opened = "INSERT INTO w (`a) VALUES ('`'),(1)"  # the server: a column named a) VALUES (
    assert read_part(Statement(1, 1, opened)) == opened
    named = "INSERT INTO `w` (`id`, `a``b`) VALUES (1,'x'),(2,'y')"
    assert read_part(Statement(1, 1, named)).endswith("VALUES ")


@pytest.mark.parametrize(
    "text",
    [
        "INSERT INTO t\u00a0VALUES (1),(2)",  # a no-break space: part of the name to the server
        "\u0131nsert INTO t VALUES (1)",  # a dotless i: `INSERT` only to Python's case folding
        "INSERT IGNORE\u2003INTO t VALUES\u00a0(1)",  # an em space
        "INSERT INTO tVALUES(1)",  # one name to the server
        "INSERT INTO t1VALUES (1),(2)",
        "INSERT INTO t VALUES (0x),(1)",  # `0x` alone is a column name to the server
    ],
)
def test_a_data_insert_head_is_read_as_the_server_reads_words_and_spaces(text) -> None:
    """Only ASCII letters fold and only ASCII white space separates: what the server would read
    otherwise is read whole."""
    assert read_part(Statement(1, 1, text)) == text


def test_guard_reads_the_statement_as_the_server_does() -> None:
    """What a quote hides under one sql_mode and shows under another is judged by the mode in force."""
    (statement,) = split_sql("SELECT 'a\\' , LOAD_FILE(1), ''")  # one string under the default mode
    assert Guard("s").check(statement) is statement
    with pytest.raises(ConfinementRefused, match="LOAD_FILE"):  # under NO_BACKSLASH_ESCAPES it is code
        Guard("s").check(dataclasses.replace(statement, quoting=Quoting(backslash_escapes=False)))
    guard = Guard("s")
    (statement,) = split_sql(
        "INSERT INTO t SELECT v FROM information_schema.tables /* ok */ WHERE 'x.y' = 'x.y'"
    )
    assert guard.check(statement) is statement
    assert without_values("(1062) Duplicate entry 'O'Brien' for key 'PRIMARY'") == (
        "(1062) Duplicate entry '…' for key 'PRIMARY'"
    )
    # a value written to look like the key's part: all of it goes, the real key (last) stays
    assert without_values("(1062) Duplicate entry 'a' for key 'Leak-Me' for key 'email'") == (
        "(1062) Duplicate entry '…' for key 'email'"
    )
    assert without_values("(1146) Table 'db.t' doesn't exist") == "(1146) Table 'db.t' doesn't exist"


def test_a_kept_throwaway_server_refuses_tcp_and_other_os_users(tmp_path, request) -> None:
    """`drill --keep` on `scratch: local` holds a restored copy: no TCP listener, and its socket's
    folder is closed to other OS users; a throwaway server given a port lets no root in by it."""
    root = tmp_path / "keep"
    (root / "backup").mkdir(parents=True)
    (root / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(HEADER.encode()))
    (root / "migrations").mkdir()
    (root / "profile.yml").write_text(
        yaml.safe_dump(
            {
                "target": "keep",
                "backups": {"source": "backup", "databases": ["app"]},
                "timeouts": {"default_s": 10},
            }
        )
    )
    opened = Path(tempfile.mkdtemp(prefix="deploycheck-test-", dir="/tmp"))  # others may pass through:
    opened.chmod(0o755)  # only the server's own folder keeps them out (pytest's tmp_path is 0700 itself)
    request.addfinalizer(lambda: shutil.rmtree(opened, ignore_errors=True))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "backups",
            "drill",
            "--latest",
            "--keep",
            "--profile",
            str(root / "profile.yml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(opened)},
    )
    try:
        assert proc.stdout is not None
        socket_path = ""
        deadline = time.monotonic() + 120
        while not socket_path and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the drill ended before it said where the kept copy is"
            if "the restored copy is kept" in line:
                socket_path = line.split("--socket=", 1)[1].split()[0]
        folder = Path(socket_path).parent
        assert folder.stat().st_mode & 0o777 == 0o700
        pid = int((folder / "mysqld.pid").read_text())
        assert _tcp_listeners(pid) == []
        for user in ("root", "deploycheck_scratch"):
            refused = subprocess.run(
                [
                    "runuser",
                    "-u",
                    "nobody",
                    "--",
                    "mariadb",
                    "--no-defaults",
                    f"--socket={socket_path}",
                    f"-u{user}",
                    "-e",
                    "SELECT 1",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert refused.returncode != 0 and "(13)" in refused.stderr, refused.stderr  # EACCES
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    with MariaDBServer(tmp_path / "tcp", tcp=True) as server:
        assert server.port is not None
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(host="127.0.0.1", port=server.port, user="root", password="", connect_timeout=5)
        assert refused.value.args[0] in (1045, 1130)


def _tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets process `pid` listens on (from /proc, no tool needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1])
    return found


@pytest.mark.parametrize("errno", ["", " MYSQL_ERRNO = 1146,"])
def test_a_signal_cannot_carry_a_row_value_into_the_findings(shared, capsys, errno) -> None:
    """A routine of the dump SIGNALs a restored value as its message text, under any error code."""
    dump = HEADER + (
        "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN DECLARE m VARCHAR(200); SELECT v INTO m FROM t LIMIT 1;"
        f" SIGNAL SQLSTATE '45000' SET{errno} MESSAGE_TEXT = m; END;;\nDELIMITER ;\nCALL p();\n"
    )
    profile = shared.profile(f"signal{len(errno)}", _scratch(shared, "confined"))
    (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(dump.encode()))
    code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
    assert code == 1, output
    if errno:  # a forged error code is refused: a SIGNAL's text would pass for the server's message
        assert "line 8 (statement 6): a forged server error (SIGNAL ... MYSQL_ERRNO" in output, output
    else:
        assert "(dump line 10, CALL P): (1644) … (the text of a SIGNAL, elided)" in output, output
    assert ROW_SECRET not in output


def test_names_from_a_dump_reach_the_terminal_without_control_characters(shared, capsys) -> None:
    """A refusal and a failed statement quote names of the dump: an escape sequence in one is not sent."""
    for n, escape in enumerate(("DROP TABLE `\x1b]0;owned\x07`.t;", "INSERT INTO `\x1b[2J\r` VALUES (1);")):
        profile = shared.profile(f"escape-{n}", _scratch(shared, "confined"))
        dump = (HEADER + escape + "\n").encode()
        (profile.parent / "backup" / "202601010300.app.sql.gz").write_bytes(gzip.compress(dump))
        code, output = _run(capsys, "backups", "drill", "--latest", "--profile", str(profile))
        assert code == 1 and "line 7" in output, output
        assert "\x1b" not in output and "\x07" not in output and "\r" not in output
