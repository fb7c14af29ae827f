"""Which targets `deploycheck serve` answers for, and where their profiles come from.

Given profiles (`--profile P`, repeatable) are the targets, archived or not yet. Given none,
every profile the archive root holds is one (runner.report.archive.archived_profiles), and its
profile file is looked for beside the archive: `profiles/NAME.yml` (or `.yaml`) in the folder
that holds the archive root, as in a checkout where `reports/` and `profiles/` sit side by side.
A target without one (or with one that does not load) shows its archived runs only, and says so:
live panels need the profile's database and backup source.
"""

from __future__ import annotations

from pathlib import Path

from runner.errors import ProfileError, UsageError
from runner.profile.loader import load_profile
from runner.profile.model import Profile
from runner.report.archive import archived_profiles
from runner.serve.app import Dashboard


def find_targets(reports: Path, specs: list[str]) -> tuple[list[Dashboard], list[str]]:
    """The targets' dashboards and a warning for each profile beside the archive that did not load."""
    if specs:
        dashboards = [Dashboard(load_profile(spec), reports) for spec in specs]
        names = [d.profile.name for d in dashboards]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise UsageError(
                f"--profile: two profiles are named {', '.join(twice)} (one archive folder each)"
            )
        return dashboards, []
    names = archived_profiles(reports)
    if not names:
        raise UsageError(
            f"{reports}: no archived profile found (a folder with a history.jsonl per profile): "
            "run `deploycheck verify --profile P` first, or pass --profile / --reports DIR"
        )
    dashboards, warnings = [], []
    folder = reports.resolve().parent / "profiles"
    for name in names:
        found = [
            folder / f"{name}{suffix}"
            for suffix in (".yml", ".yaml")
            if (folder / f"{name}{suffix}").is_file()
        ]
        if not found:
            note = f"archived runs only: no profile {folder / name}.yml to read live panels from"
            dashboards.append(Dashboard(Profile(name=name, path=reports / name), reports, note))
            continue
        try:
            dashboards.append(Dashboard(load_profile(str(found[0])), reports))
        except ProfileError as exc:
            note = f"archived runs only: its profile does not load: {exc}"
            warnings.append(f"{name}: {note}")
            dashboards.append(Dashboard(Profile(name=name, path=found[0]), reports, note))
    return dashboards, warnings
