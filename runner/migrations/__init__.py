"""Schema migrations: SQL split exactly as the mysql client splits it, migration files and
their checksums, the ledger, the one status computation, and the engine that applies them
(locked, one fresh session per migration, honest about MySQL's implicit DDL commits)."""

from runner.lazy import exports

__getattr__, __dir__ = exports(
    __name__,
    {
        "Migrator": "engine",
        "Progress": "engine",
        "MigrateResult": "engine",
        "quoting_of": "engine",
        "failed_verify_query": "engine",
        "DryRun": "engine",
        "Migration": "files",
        "MigrationSet": "files",
        "discover": "files",
        "State": "status",
        "Row": "status",
        "MigrationStatus": "status",
        "Statement": "sqlsplit",
        "Quoting": "sqlsplit",
        "split_sql": "sqlsplit",
        "split_lines": "sqlsplit",
        "may_change_quoting": "sqlsplit",
    },
)
