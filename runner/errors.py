"""The one error tree of deploycheck.

Every error carries the exit code the CLI returns for it (1 findings, 2 bad invocation
or invalid profile, 3 target unreachable) and a message that names the file, key or
object at fault and says what to do next. Library errors are converted at the boundary
(`raise X(...) from None`), so nothing else escapes to the user.

    DeploycheckError                 exit 1
    ├── UsageError                   exit 2: the command line or its arguments are wrong
    │   ├── ProfileError             the profile cannot be read or does not validate
    │   └── FlavorMismatch           the scratch server is not of production's flavor and version
    ├── TargetUnreachable            exit 3: the target cannot be reached or refused the login
    ├── MigrationError
    │   ├── MigrationFileError       bad name, duplicate version, not UTF-8, bad SQL framing
    │   │   └── ConfinementRefused   a statement would reach beyond the scratch database
    │   ├── MigrationBlocked         the ledger must be repaired first
    │   ├── MigrationFailed          a statement failed while it was applied
    │   │   └── VerifyBlockFailed    a verify query returned false
    │   └── LockTimeout              another migrate holds the lock too long
    ├── BackupError
    │   ├── BackupFailed             a backup could not be taken or did not verify
    │   └── GzipProblem              a named reason a file is not an intact gzip stream
    └── MailError
        ├── MailRefused              the relay or mailbox answered, but not as production needs
        ├── DnsProblem               a lookup gave no answer (nxdomain, servfail, timeout)
        └── RecordProblem            a published record cannot be used (DKIM key, DMARC)
"""

from __future__ import annotations

from typing import Any


class DeploycheckError(Exception):
    """Root of every error deploycheck raises on purpose."""

    exit_code = 1


class UsageError(DeploycheckError):
    """The command line or its arguments are wrong."""

    exit_code = 2


class ProfileError(UsageError):
    """The profile cannot be read or does not validate."""


class FlavorMismatch(UsageError):
    """The scratch server's flavor or major version differs from production's: comparing their
    schemas would report differences that are not drift."""


class TargetUnreachable(DeploycheckError):
    """The target (database, host, server) could not be reached or refused the login."""

    exit_code = 3


class MigrationError(DeploycheckError):
    """Something about the migrations stops `migrate` (a finding, exit 1)."""


class MigrationFileError(MigrationError):
    """A migration file is unusable: bad name, duplicate version, not UTF-8, bad SQL framing."""


class ConfinementRefused(MigrationFileError):
    """A dump's or migration's statement would reach beyond the scratch database (another schema,
    accounts, globals, files): refused before it is sent. `kind` says what it is."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class MigrationBlocked(MigrationError):
    """The ledger is in a state that must be repaired before anything else is applied."""


class MigrationFailed(MigrationError):
    """A statement or verify query of a migration failed while it was applied; where (statement
    number and line, when known) and the server's words, for reports that show them apart."""

    def __init__(
        self, message: str, *, statement: int | None = None, line: int | None = None, error: str = ""
    ) -> None:
        super().__init__(message)
        self.statement = statement
        self.line = line
        self.error = error


class VerifyBlockFailed(MigrationFailed):
    """A query of a migration's verify block returned a false first column."""

    def __init__(self, statement: Any, value: object) -> None:
        shown = " ".join(statement.text.split())
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        super().__init__(
            f"verify query {statement.number} returned {value!r}, expected a true first column "
            f"(line {statement.line}): {shown}"
        )
        self.statement = statement


class LockTimeout(MigrationError):
    """Another process holds the migration lock for longer than the profile allows."""


class BackupError(DeploycheckError):
    """A backup cannot be taken, read or trusted."""


class BackupFailed(BackupError):
    """The manual backup could not be taken or did not verify; nothing was left behind."""


class GzipProblem(BackupError):
    """A named reason (`truncated`, `CRC mismatch`, ...) the file is not an intact gzip stream."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class MailError(DeploycheckError):
    """Mail as production needs it does not work: relay, mailbox or DNS records."""


class MailRefused(MailError):
    """The relay or the mailbox answered, but not as production mail needs: no STARTTLS,
    login refused, a recipient refused, the test email never arrived."""


class DnsProblem(MailError):
    """A lookup that did not give an answer; `kind` is nxdomain, servfail or timeout."""

    def __init__(self, name: str, kind: str, detail: str) -> None:
        super().__init__(f"{name}: {kind} ({detail})")
        self.kind = kind


class RecordProblem(MailError):
    """A published record cannot be used: not exactly one DMARC record, an unreadable DKIM key."""
