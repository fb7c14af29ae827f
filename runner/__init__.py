"""deploycheck: verify a MySQL-backed deployment, apply its migrations safely, archive the result."""

__version__ = "0.1.0"

PROFILE_ENV = "DEPLOYCHECK_PROFILE"
