"""deploycheck: verify a MySQL-backed deployment, apply its migrations safely, archive the result."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__version__ = "0.1.0"

PROFILE_ENV = "DEPLOYCHECK_PROFILE"

# What the commands need besides the code. The repository keeps them at its top level;
# the wheel maps them into the package under these names (pyproject.toml).
_BUNDLED = {
    "checks": "runner.checks",
    "migrations": "runner.sandbox.app_migrations",
    "profiles": "runner.profile.examples",
}
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def bundled(name: str) -> Path:
    """Where the checks, the demo's migrations or the example profiles are: the repository's
    top-level folder in a checkout, the package's copy when installed from a wheel."""
    in_checkout = _SOURCE_ROOT / name
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and in_checkout.is_dir():
        return in_checkout
    spec = importlib.util.find_spec(_BUNDLED[name])
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"deploycheck's {name}/ is missing from this installation: reinstall it")
    return Path(next(iter(spec.submodule_search_locations)))
