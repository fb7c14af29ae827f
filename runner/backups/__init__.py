"""Backups as a deployment keeps them: where they are read from (a folder, or one over SSH),
the listing with kinds and times, freshness against the schedule, retention and size; the
integrity of one file (gzip stream and dump scan, one pass) and a dump taken now."""

from runner.lazy import exports

__getattr__, __dir__ = exports(
    __name__,
    {
        "open_source": "source",
        "fetch": "source",
        "list_backups": "listing",
        "BackupListing": "listing",
        "BackupFile": "listing",
        "freshness": "schedule",
        "retention": "schedule",
        "size_trend": "schedule",
        "room": "schedule",
        "drill": "drill",
        "DrillResult": "drill",
        "BackupCheck": "integrity",
        "check_backup": "integrity",
        "check_in_source": "integrity",
        "take_backup": "dump",
        "dump_to": "dump",
        "find_binary": "dump",
    },
)
