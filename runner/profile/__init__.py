"""Target profiles: the typed model of a profile's keys, and the loader that finds a profile,
reads its YAML, interpolates `${VAR}` and says exactly which key of which file is wrong."""

from runner.lazy import exports

__getattr__, __dir__ = exports(
    __name__,
    {
        "Profile": "model",
        "Database": "model",
        "Migrations": "model",
        "Backups": "model",
        "Smtp": "model",
        "Imap": "model",
        "Dns": "model",
        "HttpCheck": "model",
        "Env": "model",
        "EnvRule": "model",
        "load_profile": "loader",
        "resolve_profile_path": "loader",
    },
)
