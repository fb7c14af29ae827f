"""Runs in Prometheus exposition format: what `deploycheck serve` answers on /metrics for every
target it serves and `deploycheck verify --metrics FILE` leaves for node_exporter's textfile
collector. Built from the archived report.json, so a scrape never waits for a target. One
registry for all targets (each series carries a `profile` label), so every metric has one HELP
and TYPE line however many targets there are, as `promtool check metrics` wants.

Times are absolute Unix times (`..._timestamp_seconds`) where an alert compares them with
`time()`: a run that stopped happening, a backup that stopped coming, a certificate running out
are seen between runs too."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from runner.atomic import read_within, write_atomically

RUN_OUTCOMES = ("passed", "failed", "error")  # report.json's `outcome`
_Samples = dict[tuple[tuple[str, str], ...], float]  # a family's samples by their labels
_FRESH, _CERT = "test_backup_is_fresh[", "test_certificates_are_valid_now["


@dataclass(frozen=True)
class _Family:
    """A gauge: its name, help and labels besides `profile`."""

    name: str
    help: str
    labels: tuple[str, ...] = ()

    def header(self) -> str:
        help = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return f"# HELP {self.name} {help}\n# TYPE {self.name} gauge\n"


FAMILIES = (
    _Family("deploycheck_last_run_timestamp_seconds", "When the last run finished (Unix time)"),
    _Family("deploycheck_last_run_duration_seconds", "How long the last run took"),
    _Family(
        "deploycheck_last_run_exit_code",
        "The last run's exit code (0 passed, 1 findings, 2 no verdict, 3 unreachable, 130 not run: interrupted)",
    ),
    _Family(
        "deploycheck_last_run_outcome",
        "1 for the last run's outcome (passed, failed, error), 0 for the others",
        ("outcome",),
    ),
    _Family(
        "deploycheck_check_ok",
        "1 when the check passed (or was waived or skipped) in the last run, 0 when it did not",
        ("check", "area", "severity"),
    ),
    _Family(
        "deploycheck_check_outcome",
        "1, labelled with the check's outcome in the last run (passed, failed, warned, skipped, waived, error)",
        ("check", "area", "severity", "outcome"),
    ),
    _Family("deploycheck_pending_migrations", "Migrations on disk not applied, at the last run"),
    _Family(
        "deploycheck_backup_age_seconds", "Age of the newest scheduled backup at the last run", ("database",)
    ),
    _Family(
        "deploycheck_backup_timestamp_seconds",
        "When the newest scheduled backup was taken (Unix time)",
        ("database",),
    ),
    _Family(
        "deploycheck_certificate_expiry_seconds",
        "Seconds from the last run until the endpoint's first certificate expires",
        ("endpoint",),
    ),
    _Family(
        "deploycheck_certificate_expiry_timestamp_seconds",
        "When the endpoint's first certificate expires (Unix time)",
        ("endpoint",),
    ),
)
_READABLE = _Family(
    "deploycheck_archive_readable", "1 when the archive's newest run could be read, 0 when it could not"
)
_INDEX = {family.name: n for n, family in enumerate(FAMILIES)}


def exposition(reports: Sequence[dict[str, Any]]) -> bytes:
    """The newest run of each target (one report.json per profile) as one exposition."""
    return exposition_of([series(report) for report in reports])


def exposition_of(per_report: Sequence[Sequence[str]]) -> bytes:
    """Each family's help and type once, then its series of every report (`series`)."""
    return "".join(
        family.header() + "".join(lines[n] for lines in per_report) for n, family in enumerate(FAMILIES)
    ).encode()


def write_textfile(path: Path, ends: Sequence[tuple[str, dict[str, Any] | None, int]]) -> None:
    """`verify --metrics FILE`, one target or many: per (profile, report, exit code), the series
    of the run it archived or, when it archived none, `kept` from the file as it was, so a run
    that judged nothing or was stopped neither drops nor resolves its target's alerts. Written
    whole or not at all: node_exporter's textfile collector may read it at any moment."""
    # a regular file only: a FIFO or a link to /dev/zero planted in a shared folder hung the run
    found = read_within(path.parent, path.name)
    try:
        previous = found.decode("utf-8") if found is not None else ""
    except ValueError:  # not text: nothing to keep
        previous = ""
    per_target = [
        series(report) if report is not None else kept(previous, profile, code)
        for profile, report, code in ends
    ]
    write_atomically(path, exposition_of(per_target).decode())


def series(report: dict[str, Any]) -> tuple[str, ...]:
    """A report's series as text, one string per family of FAMILIES: what `serve` keeps per
    target while its newest run stays the same, so a scrape of many targets only joins them."""
    found: list[_Samples] = [{} for _ in FAMILIES]  # the last wins
    put = _putter(found, report["profile"])
    finished = unix_time(report["finished_at"])
    put("deploycheck_last_run_timestamp_seconds", finished)
    put("deploycheck_last_run_duration_seconds", max(0.0, finished - unix_time(report["started_at"])))
    _put_end(put, report["exit_code"], report["outcome"])
    for check in report["checks"]:
        labels = (check["id"], check["area"], check["severity"])
        put("deploycheck_check_ok", 1 if check["outcome"] in ("passed", "waived", "skipped") else 0, *labels)
        put("deploycheck_check_outcome", 1, *labels, check["outcome"])
        name = check["id"].split("::", 1)[-1]
        for key, value in measures(check["id"], check.get("details") or {}).items():
            if key == "pending":
                put("deploycheck_pending_migrations", value)
            elif key == "age_s":
                database = name[len(_FRESH) : -1]
                put("deploycheck_backup_age_seconds", value, database)
                put("deploycheck_backup_timestamp_seconds", finished - value, database)
            else:
                endpoint = name[len(_CERT) : -1]
                put("deploycheck_certificate_expiry_seconds", value - finished, endpoint)
                put("deploycheck_certificate_expiry_timestamp_seconds", value, endpoint)
    return _text(found)


def kept(previous: str, profile: str, exit_code: int) -> tuple[str, ...]:
    """`series` of a target that archived no run this time (it judged nothing, could not write
    its archive, was stopped before it started): its series in the textfile's `previous` text,
    so alerts on them go on, with this run's exit code and the outcome error. Its last-run time
    stays the previous run's, so DeploycheckNoRecentRun still sees it go stale."""
    found: list[_Samples] = [{} for _ in FAMILIES]
    try:
        families = list(text_string_to_metric_families(previous))
    except ValueError:  # a damaged textfile keeps nothing
        families = []
    for sample in (sample for family in families for sample in family.samples):
        n = _INDEX.get(sample.name)
        if (
            n is not None
            and sample.labels.get("profile") == profile
            and set(sample.labels) == {"profile", *FAMILIES[n].labels}
        ):
            found[n][tuple(sorted(sample.labels.items()))] = sample.value
    _put_end(_putter(found, profile), exit_code, "error")
    return _text(found)


def _putter(found: list[_Samples], profile: str) -> Callable[..., None]:
    """put(name, value, *labels): a sample of the family `name`, labelled `profile` and `labels`."""

    def put(name: str, value: float, *labels: str) -> None:
        family = FAMILIES[_INDEX[name]]
        found[_INDEX[name]][
            tuple(sorted(zip(("profile", *family.labels), (profile, *labels), strict=True)))
        ] = value

    return put


def _put_end(put: Callable[..., None], exit_code: int, outcome: str) -> None:
    put("deploycheck_last_run_exit_code", exit_code)
    for state in RUN_OUTCOMES:
        put("deploycheck_last_run_outcome", 1 if outcome == state else 0, state)


def _text(found: list[_Samples]) -> tuple[str, ...]:
    return tuple(
        "".join(_line(family.name, labels, value) for labels, value in samples.items())
        for family, samples in zip(FAMILIES, found, strict=True)
    )


def measures(check_id: str, details: Mapping[str, Any]) -> dict[str, float]:
    """What a check's details give the metrics: `pending` migrations, a backup's `age_s`, a
    certificate's `expires_at` (as Unix time). ValueError naming a detail that is not what
    deploycheck writes: a report.json edited or damaged that way is unreadable, not a 500."""
    name = check_id.split("::", 1)[-1]
    head = name.split("[", 1)[0] + "[" if "[" in name else name  # a parametrized check's name up to `[`
    key = {"test_nothing_pending": "pending", _FRESH: "age_s", _CERT: "expires_at"}.get(head)
    if key is None or key not in details:
        return {}
    value = details[key]
    if key == "expires_at":
        try:
            return {key: datetime.fromisoformat(value).timestamp()}
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"details.expires_at of {name} is not an ISO time") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"details.{key} of {name} is not a number")
    return {key: float(value)}


def _line(name: str, labels: tuple[tuple[str, str], ...], value: float) -> str:
    pairs = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
    return f"{name}{{{pairs}}} {floatToGoString(value)}\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def unix_time(stamp: str) -> float:
    """An ISO time of report.json (`...Z`) as Unix time."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def archive_readable(readable: Mapping[str, bool]) -> bytes:
    """Per profile, 1 when the archive's newest run reads, 0 when it does not (a cut history
    line, a missing run folder, a cut report.json): what `serve` adds to /metrics so an alert
    sees the damage."""
    lines = [
        _line(_READABLE.name, (("profile", profile),), 1 if good else 0) for profile, good in readable.items()
    ]
    return (_READABLE.header() + "".join(lines)).encode()
