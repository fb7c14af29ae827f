"""What a run leaves behind: the report model and report.json (schema in
report.schema.json), the archive with its history and index, and the charts."""

from runner.lazy import exports

__getattr__, __dir__ = exports(
    __name__,
    {
        "CheckResult": "model",
        "RunReport": "model",
        "SCHEMA_PATH": "model",
        "new_run_dir": "archive",
        "record_run": "archive",
    },
)
