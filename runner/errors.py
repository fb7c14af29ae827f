"""The one error tree of deploycheck.

Every error carries the exit code the CLI returns for it (DESIGN.md: 1 findings,
2 bad invocation or invalid profile, 3 target unreachable) and a message that
names the file, key or object at fault and says what to do next.
"""

from __future__ import annotations


class DeploycheckError(Exception):
    """Root of every error deploycheck raises on purpose."""

    exit_code = 1


class UsageError(DeploycheckError):
    """The command line or its arguments are wrong."""

    exit_code = 2


class ProfileError(UsageError):
    """The profile cannot be read or does not validate."""


class MigrationError(DeploycheckError):
    """Something about the migrations stops `migrate` (a finding, exit 1)."""


class MigrationFileError(MigrationError):
    """A migration file is unusable: bad name, duplicate version, not UTF-8, bad SQL framing."""


class MigrationBlocked(MigrationError):
    """The ledger is in a state that must be repaired before anything else is applied."""


class MigrationFailed(MigrationError):
    """A statement or verify query of a migration failed while it was applied."""


class LockTimeout(MigrationError):
    """Another process holds the migration lock for longer than the profile allows."""


class MailRefused(DeploycheckError):
    """The relay or the mailbox answered, but not as production mail needs: no STARTTLS,
    login refused, a recipient refused, the test email never arrived."""


class TargetUnreachable(DeploycheckError):
    """The target (database, host, server) could not be reached or refused the login."""

    exit_code = 3
