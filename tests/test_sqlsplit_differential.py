"""deploycheck sends exactly what the `mariadb` client sends, compared through the server's
general log and on the resulting database: the splitter against one client run of a file, and
`migrate` against one client process per file, as deploy scripts feed migrations
(`for f in *.sql; do mariadb db < "$f"; done`). Each comparison runs twice: with databases of
the server's default character set, and with utf8mb4 databases on a server whose default is
latin1, where whatever takes the server's default instead of the database's shows."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.backups.dump import find_binary
from runner.migrations.engine import Migrator
from runner.migrations.sqlsplit import Quoting, Splitter, split_lines
from runner.profile.loader import load_profile
from runner.sandbox.mariadb import MariaDBServer
from tests.test_sqlsplit import _separator, _statement

CORPUS = sorted((Path(__file__).parent / "sql_corpus").glob("*.sql"))


def _logged(admin, thread_ids: set[int] | None, exclude: int) -> list[str]:
    with admin.cursor() as cur:
        cur.execute("SELECT thread_id, argument FROM mysql.general_log WHERE command_type = 'Query'")
        rows = cur.fetchall()
    out = []
    for thread, argument in rows:
        if thread == exclude or (thread_ids is not None and thread not in thread_ids):
            continue
        out.append(argument.decode("utf-8", "surrogateescape") if isinstance(argument, bytes) else argument)
    return out


@dataclass(frozen=True)
class Server:
    server: MariaDBServer
    create_options: str  # how the compared databases are created

    @property
    def socket(self) -> Path:
        return self.server.socket

    def connect(self, database: str | None = None):
        return self.server.connect(database)


@pytest.fixture(scope="module")
def latin1_server(tmp_path_factory: pytest.TempPathFactory):
    """A server whose default character set is not the databases' (set here whatever the build's default)."""
    server = MariaDBServer(
        tmp_path_factory.mktemp("latin1"),
        options=("--character-set-server=latin1", "--collation-server=latin1_swedish_ci"),
    )
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=["server-default-databases", "utf8mb4-databases-on-a-latin1-server"])
def server(request: pytest.FixtureRequest) -> Server:
    if request.param == "server-default-databases":
        return Server(request.getfixturevalue("mariadb"), "")
    return Server(request.getfixturevalue("latin1_server"), " CHARACTER SET utf8mb4")


@pytest.fixture()
def logging_admin(server: Server):
    admin = server.connect()
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute("SET GLOBAL general_log = 1")
    yield admin
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL general_log = 0")
    admin.close()


def _fresh(admin, server: Server, name: str) -> None:
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}`{server.create_options}")


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_runner_sends_what_the_client_sends(path: Path, server: Server, logging_admin) -> None:
    from_client, from_runner = _both_logs(path, server, logging_admin)
    assert from_client, "the client ran nothing: the comparison would prove nothing"
    assert from_runner == from_client


def test_runner_reads_quotes_as_the_server_global_sql_mode_says(
    tmp_path: Path, server: Server, logging_admin
) -> None:
    """The mode a session starts with comes in the handshake, before any statement ran."""
    path = tmp_path / "global_mode.sql"
    path.write_text("SELECT 'a\\'; SELECT 'b';\nSELECT \"c\\\"; SELECT 'd';\n")
    with logging_admin.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode")
        (before,) = cur.fetchone()
        cur.execute("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
    try:
        from_client, from_runner = _both_logs(path, server, logging_admin)
    finally:
        with logging_admin.cursor() as cur:
            cur.execute("SET GLOBAL sql_mode = %s", (before,))
    assert from_client == ["SELECT 'a\\'", "SELECT 'b'", 'SELECT "c\\"', "SELECT 'd'"]
    assert from_runner == from_client


def _both_logs(
    path: Path, server: Server, admin, *, force: bool = False, pieces: int = 0
) -> tuple[list[str], list[str]]:
    """What the server logged from `mariadb < path`, and from the runner's statements of it.
    `force`: both go on after a statement the server refuses (`mariadb --force`). `pieces`: the
    runner reads the file's bytes as the restore reads a dump, cut in pieces of that size."""
    admin_id = admin.thread_id()

    _fresh(admin, server, "diff_client")
    with admin.cursor() as cur:
        cur.execute("TRUNCATE mysql.general_log")
    with path.open("rb") as stdin:
        subprocess.run(
            [
                find_binary("mariadb", "mysql"),
                "--no-defaults",
                "--skip-ssl",  # the session server offers no TLS; MariaDB 11.4+ clients demand it
                f"--socket={server.socket}",
                "-uroot",
                *(["--force"] if force else []),
                "diff_client",
            ],
            stdin=stdin,
            check=not force,
            capture_output=True,
        )
    from_client = _logged(admin, None, admin_id)

    _fresh(admin, server, "diff_runner")
    runner = server.connect("diff_runner")
    with admin.cursor() as cur:
        cur.execute("TRUNCATE mysql.general_log")
    with runner.cursor() as cur:
        # As the engine does: the splitter follows the quoting the server reports after each statement.
        def quoting() -> Quoting:
            return Quoting.from_server_status(runner.server_status)

        if pieces:
            data = path.read_bytes()
            statements = Splitter(path.name, quoting).split_pieces(
                data[i : i + pieces] for i in range(0, len(data), pieces)
            )
        else:
            lines = [line.removesuffix("\r") for line in path.read_text(encoding="utf-8").split("\n")]
            statements = split_lines(lines, path.name, quoting)
        for statement in statements:
            try:
                cur.execute(statement.text.encode("utf-8", "surrogateescape"))  # as the drill sends it
                while cur.nextset():
                    pass
            except pymysql.MySQLError:
                if not force:
                    raise
    from_runner = _logged(admin, {runner.thread_id()}, admin_id)
    runner.close()
    return from_client, from_runner


# What the engine itself sends around a migration's statements: the ledger, the transaction,
# the session setup after each reset. It may stand only between two files' statements.
_ENGINE_OWN = ("set autocommit", "set names", "commit", "rollback", "select get_lock", "select is_used_lock")


def _engine_own(statement: str) -> bool:
    lowered = statement.lower()
    return (
        lowered.startswith(_ENGINE_OWN)
        or "deploycheck_schema_history" in lowered
        or ("information_schema.tables" in lowered and "table_schema = database()" in lowered)
    )


def _around_files(runner_log: list[str], per_file: list[list[str]]) -> list[str]:
    """The runner's log with each file's statements found in order, each file's as one unbroken
    run equal to the client's; what lies between them must be the engine's own. Returns what
    did not fit (empty when the runner sent exactly the client's statements, file by file): an
    extra ROLLBACK inside a file shows up here, whatever its kind."""
    misfits: list[str] = []
    position = 0
    for statements in per_file:
        start = next(
            (
                i
                for i in range(position, len(runner_log) - len(statements) + 1)
                if runner_log[i : i + len(statements)] == statements
            ),
            None,
        )
        if start is None:
            return [*misfits, f"not sent as one run: {statements}"]
        misfits += [s for s in runner_log[position:start] if not _engine_own(s)]
        position = start + len(statements)
    return misfits + [s for s in runner_log[position:] if not _engine_own(s)]


def test_a_statement_inside_a_file_is_seen_whatever_its_kind() -> None:
    """The comparison itself: an engine-like ROLLBACK between a file's statements is a misfit."""
    files = [["CREATE TABLE a (i INT)", "INSERT INTO a VALUES (1)"], ["DROP TABLE a"]]
    good = ["SET NAMES utf8mb4", *files[0], "COMMIT", "SET autocommit=1", *files[1], "COMMIT"]
    assert _around_files(good, files) == []
    bad = ["SET NAMES utf8mb4", files[0][0], "ROLLBACK", files[0][1], "COMMIT", *files[1]]
    assert _around_files(bad, files) == [f"not sent as one run: {files[0]}"]
    assert _around_files([*good, "SELECT 1"], files) == ["SELECT 1"]


def _database_state(admin, name: str) -> dict[str, object]:
    """Every table's rows, every column's and stored function's character set, every routine's
    and trigger's body: what a migration leaves behind."""
    state: dict[str, object] = {}
    with admin.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name <> "
            "'deploycheck_schema_history' ORDER BY table_name",
            (name,),
        )
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT * FROM `{name}`.`{table.replace('`', '``')}` ORDER BY 1")
            state[f"table {table}"] = cur.fetchall()
        cur.execute(
            "SELECT routine_name, routine_definition, character_set_name, collation_name"
            " FROM information_schema.routines WHERE routine_schema = %s",
            (name,),
        )
        state.update((f"routine {n}", rest) for n, *rest in cur.fetchall())
        cur.execute(
            "SELECT table_name, column_name, character_set_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name <> 'deploycheck_schema_history'",
            (name,),
        )
        state.update((f"column {t}.{c}", rest) for t, c, *rest in cur.fetchall())
        cur.execute(
            "SELECT trigger_name, action_statement FROM information_schema.triggers WHERE trigger_schema = %s",
            (name,),
        )
        state.update((f"trigger {n}", body) for n, body in cur.fetchall())
    return state


def test_migrate_sends_what_one_client_process_per_file_sends(
    tmp_path: Path, server: Server, logging_admin
) -> None:
    """The whole corpus as a migration set: CRLF files with CRs inside strings and routine
    bodies, DELIMITER, sql_mode changes, and a file that changes its session for the next."""
    admin_id = logging_admin.thread_id()
    client = find_binary("mariadb", "mysql")

    _fresh(logging_admin, server, "per_file_client")
    per_file = []
    for path in CORPUS:
        with logging_admin.cursor() as cur:
            cur.execute("TRUNCATE mysql.general_log")
        with path.open("rb") as stdin:
            subprocess.run(
                [
                    client,
                    "--no-defaults",
                    "--skip-ssl",
                    f"--socket={server.socket}",
                    "-uroot",
                    "per_file_client",
                ],
                stdin=stdin,
                check=True,
                capture_output=True,
            )
        per_file.append(_logged(logging_admin, None, admin_id))
    client_state = _database_state(logging_admin, "per_file_client")

    _fresh(logging_admin, server, "per_file_runner")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for number, path in enumerate(CORPUS, 1):
        (migrations / f"V{number}__{path.stem}.sql").write_bytes(path.read_bytes())
    profile = tmp_path / "profile.yml"
    profile.write_text(
        f"database: {{socket: '{server.socket}', user: root, name: per_file_runner}}\n"
        "migrations: {dir: migrations, naming: flyway}\n"
    )
    with logging_admin.cursor() as cur:
        cur.execute("TRUNCATE mysql.general_log")
    Migrator(load_profile(str(profile))).migrate()
    from_runner = _logged(logging_admin, None, admin_id)
    runner_state = _database_state(logging_admin, "per_file_runner")

    assert all(per_file) and _around_files(from_runner, per_file) == []
    assert runner_state == client_state
    with logging_admin.cursor() as cur:
        cur.execute(
            "SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = %s",
            ("per_file_runner",),
        )
        (charset,) = cur.fetchone()
    # a function's return type and a view's column take the database's character set
    assert client_state["routine label"][1] == client_state["column labelled.l"][0] == charset
    assert client_state["table crlf_t"] == ((1, "a\nb"), (2, "c\n!"))  # no CR survives
    assert client_state["table seen"] == ((None, "SYSTEM", 1, 1),)  # nothing leaked into the next file


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # each example runs the real client and the runner: a few, so the file stays quick
@given(pairs=st.lists(st.tuples(_statement, _separator), min_size=1, max_size=5), custom=st.booleans())
def test_generated_files_are_sent_as_the_client_sends_them(
    pairs: list[tuple[str, str]], custom: bool, tmp_path: Path, server: Server, logging_admin
) -> None:
    """The splitter's property test's files, through the real client too: most of their
    statements are refused by the server, so both go on past errors (`--force`)."""
    if custom:
        body = "".join(stmt + sep.replace(";", "$$") for stmt, sep in pairs)
        sql = "DELIMITER $$\n" + body + "\nDELIMITER ;\n"
    else:
        sql = "".join(stmt + sep for stmt, sep in pairs)
    path = tmp_path / "generated.sql"
    path.write_text(sql, encoding="utf-8")
    from_client, from_runner = _both_logs(path, server, logging_admin, force=True)
    assert from_client == [stmt for stmt, _ in pairs]  # the server saw every statement
    assert from_runner == from_client


# -- a dump's row lines, which the restore's splitter takes whole ---------------

_STRINGS = [  # each as mariadb-dump writes it: what the client would act on outside a string
    rb"'it\'s'",
    rb"'back\\slash'",
    rb"'ends in a backslash\\'",
    rb"'semi;colon'",
    rb"'-- dash'",
    rb"'# hash'",
    rb"'/* opens'",
    rb"'closes */'",
    rb"'DELIMITER $$'",
    rb"'\g \G \c'",
    rb"'dq \" bt `'",
    rb"'doubled '' quote'",
    rb"'new\nline'",
    b"'tab\there \xc3\xa9'",
]
_BINARY = b"'\x80\xff\xfe\x01\x1a\x7f \\' \\\\ \xc3'"  # not UTF-8: the dump's bytes as they are


def _dump_rows() -> bytes:
    """A dump-shaped file: long runs of row lines, each broken, cut or read otherwise in turn."""
    rows = [b"(%d,%s,NULL,-1.5e-05)" % (n, s) for n, s in enumerate(_STRINGS, 1)]
    rows += [b"(%d,'row %d',%s,%d.25)" % (n, n, _BINARY, n) for n in range(100, 2100)]
    return b"".join(
        [
            b"CREATE TABLE r (id INT PRIMARY KEY, s VARCHAR(64), b VARBINARY(64), d DECIMAL(12,6));\n",
            b"/*!40000 ALTER TABLE `r` DISABLE KEYS */;\nINSERT INTO `r` VALUES\n",
            b",\n".join(rows) + b";\n",
            # a run broken by lines that are not one row each, then resumed
            b"INSERT INTO `r` VALUES\n(3001,'a',NULL,1),\n(3002,\"dq\",NULL,2),\n",
            b"(3003,'b',NULL,3),(3004,'c',NULL,4),\n-- a comment between rows\n",
            b"(3005,'d',-- a comment after a value\nNULL,5),\n(3006,CONCAT('e','f'),NULL,6),\n",
            b"(3007,'line one\\\ncontinues',NULL,7),\n(3008,'g',NULL,8);\n",
            # the last row, then another statement on its line; rows at a statement's start
            b"INSERT INTO `r` VALUES\n(3101,'h',NULL,1); SELECT 1;\n(3102),\n(3103);\n",
            b"SELECT\n(1),\n('a;b');\n",
            # CR LF line ends, a CR inside a string
            b"INSERT INTO `r` VALUES\r\n(3201,'crlf',NULL,1),\r\n(3202,'cr \r inside',NULL,2),\r\n",
            b"(3203,'i',NULL,3);\r\n",
            # strings read without backslash escapes: `'a\'` is a whole string, `-- ` then a comment
            b"SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');\nINSERT INTO `r` VALUES\n",
            b"(3301,'C:\\',NULL,1),\n(3302,'a\\', -- ',2),\n(3303,'j',NULL,3);\n",
            b"SET sql_mode = 'ANSI_QUOTES';\nINSERT INTO \"r\" VALUES\n(3401,'k \"q\"',NULL,1),\n",
            b"(3402,'l\\'m',NULL,2);\nSET sql_mode = DEFAULT;\n",
            # another delimiter: a row's `;` ends nothing (the server, which the client lets run
            # several statements at once, would: a row it refuses keeps the tables alike)
            b"DELIMITER $$\nINSERT INTO `r` VALUES\n(3501,'n;o',NULL,1),\n(3502,'p',NULL);\n",
            b"(3503,'q',NULL,3)$$\nDELIMITER ;\n",
            b"/*!40000 ALTER TABLE `r` ENABLE KEYS */;\n",
        ]
    )


@pytest.mark.parametrize("pieces", [61, 1 << 20], ids=["cut-every-61-bytes", "whole"])
def test_a_dumps_rows_are_sent_as_the_client_sends_them(
    pieces: int, tmp_path: Path, server: Server, logging_admin
) -> None:
    """The restore's reading of a dump (row lines taken whole where the client would read them
    as plain text) against `mariadb < dump`: rows holding what the client acts on outside a
    string, bytes that are not UTF-8, runs broken mid-way, CR LF, the last row's `;`, and
    NO_BACKSLASH_ESCAPES, ANSI_QUOTES or another delimiter in force. Some statements are
    refused by the server (that is the point of them): both go on (`--force`)."""
    path = tmp_path / "dump.sql"
    path.write_bytes(_dump_rows())
    from_client, from_runner = _both_logs(path, server, logging_admin, force=True, pieces=pieces)
    assert len(from_client) == 16 and from_client[2].count("\n") == len(_STRINGS) + 2000
    assert from_runner == from_client
    restored = _database_state(logging_admin, "diff_runner")
    assert len(restored["table r"]) > 2000 and restored == _database_state(logging_admin, "diff_client")
