"""The typed shape of a target profile.

Models refuse unknown keys, so a typo in a production profile is an error
instead of a silently ignored setting. Secrets are `SecretStr`: masked in str,
repr and error messages; `.get_secret_value()` is the only way to read them.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from runner.redact import is_secret_name


def _anchor(value: Path, info: ValidationInfo) -> Path:
    """Relative paths in a profile are relative to the profile file, not to the caller's cwd."""
    base = (info.context or {}).get("base_dir")
    return value if value.is_absolute() or base is None else Path(os.path.normpath(base / value))


ProfilePath = Annotated[Path, AfterValidator(_anchor)]


def _existing_dir(value: Path) -> Path:
    if not value.is_dir():
        raise ValueError(f"{value} is not a directory")
    return value


def _anchored_source(value: str, info: ValidationInfo, prefix: str = "") -> str:
    """A source given as a local path (after `prefix`, e.g. `dotenv:`) is anchored like ProfilePath."""
    if "://" in value or not value.startswith(prefix):
        return value
    return prefix + str(_anchor(Path(value[len(prefix) :]), info))


def _split(url: str, what: str) -> SplitResult:
    """`url` split, its host and port read (a port past 65535 is refused here, not at request
    time); `what` names what it should have been."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as exc:
        raise ValueError(f"{url.removeprefix('//')!r} is not {what} ({exc})") from None
    if not parts.hostname:
        raise ValueError(f"{url.removeprefix('//')!r} is not {what}")
    return parts


def _host(value: str) -> str:
    """`host` or `host:port`, as a URL's authority writes it."""
    parts = _split(f"//{value}", "a host or host:port")
    if parts.username is not None or parts.path:
        raise ValueError(f"{value!r} is not a host or host:port")
    return value


_HTTP_URL = "an http(s) URL (http:// or https:// and a host)"
_SSH_SOURCE = "a local folder or ssh://user@host/path"


def _http_url(value: str) -> str:
    """An http(s) URL with a host and a port that is one (what an http check or a journey's
    request asks): another scheme would fail only when the checks run."""
    if _split(value, _HTTP_URL).scheme not in ("http", "https"):
        raise ValueError(f"{value!r} is not {_HTTP_URL}")
    return value


_VALUE_FILE_LIMIT = 64 * 1024  # a password, token or key; Docker secrets are small files


def _read_value_file(path: Path) -> str:
    """A `*_file` key's file: a regular file (followed through links, as Kubernetes mounts them)
    of modest size, opened without blocking, so a FIFO, a device or /dev/zero named there is
    refused instead of hanging or filling memory."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if info.st_size > _VALUE_FILE_LIMIT:
            raise ValueError(f"{path} holds {info.st_size} bytes, more than a secret's {_VALUE_FILE_LIMIT}")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(_VALUE_FILE_LIMIT + 1)
    finally:
        os.close(fd)
    return data.decode("utf-8")


class Section(BaseModel):
    """Base of every profile section: strict about keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _read_file_keys(cls, data: Any, info: ValidationInfo) -> Any:
        """`password_file: /run/secrets/x` fills `password` from that file, as Docker secrets do."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key, value in data.items():
            if not (isinstance(key, str) and key.endswith("_file")) or key in cls.model_fields:
                continue
            target = key[: -len("_file")]
            if target not in cls.model_fields:
                continue  # left for extra="forbid" to report as an unknown key
            if target in data:
                raise ValueError(f"give either {target!r} or {key!r}, not both")
            path = _anchor(Path(str(value)), info)
            try:
                text = _read_value_file(path).rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ValueError(f"{key}: {path} is not UTF-8 text") from None
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            out[target] = cls._from_file(key, path, text)
            del out[key]
        return out

    @classmethod
    def _from_file(cls, key: str, path: Path, text: str) -> str:
        """What a section makes of a `*_file` key's text (a section may refuse it)."""
        return text


class DatabaseTLS(Section):
    ca: ProfilePath | None = None
    required: bool = True


DEFAULT_VERSIONS = {"mysql": ">=8.0,<8.5", "mariadb": ">=10.6"}


class Database(Section):
    host: str = "127.0.0.1"
    port: int = Field(3306, ge=1, le=65535)
    socket: ProfilePath | None = None
    user: str
    password: SecretStr = SecretStr("")
    name: str
    tls: DatabaseTLS | None = None
    versions: dict[Literal["mysql", "mariadb"], str] = Field(default_factory=lambda: dict(DEFAULT_VERSIONS))
    time_zone: str | None = None
    required_tables: list[str] = Field(default_factory=list)


class Migrations(Section):
    dir: Annotated[ProfilePath, AfterValidator(_existing_dir)]
    naming: Literal["flyway", "numbered", "timestamp"] = "flyway"
    ledger: Literal["deploycheck", "schema_version"] = "deploycheck"
    table: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,64}$")
    placeholders: dict[str, str] = Field(default_factory=dict)
    placeholder_mode: Literal["raw", "literal"] = "raw"  # see runner/migrations/placeholders.py
    lock_timeout_s: float = Field(60.0, ge=0)
    out_of_order: bool = False
    rehearse: bool = False  # every `migrate` first runs the pending migrations on a scratch copy


class BackupPattern(Section):
    """How one kind of backup file is named: `time` (and optionally `db`) are named groups."""

    kind: Literal["scheduled", "manual", "pre-restore"]
    regex: str
    time_format: str


DEFAULT_BACKUP_PATTERNS = [
    # fradelg/mysql-cron-backup: /backup/202611240300.app.sql.gz
    BackupPattern(
        kind="scheduled", regex=r"^(?P<time>\d{12})\.(?P<db>.+)\.sql\.gz$", time_format="%Y%m%d%H%M"
    ),
    # the application's own API
    BackupPattern(
        kind="manual",
        regex=r"^manual_(?P<time>\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)\.sql\.gz$",
        time_format="%Y-%m-%d_%H-%M-%S",
    ),
    BackupPattern(
        kind="pre-restore",
        regex=r"^pre-restore_(?P<time>\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)\.sql\.gz$",
        time_format="%Y-%m-%d_%H-%M-%S",
    ),
]


class Drill(Section):
    """The restore drill: the newest backup restored into a scratch database and proven."""

    budget_min: float | None = Field(None, gt=0)  # the recovery time objective for the restore
    queries: list[str] = Field(default_factory=list)  # SELECTs whose first column must be true
    rehearse: bool = False  # then the pending migrations run on the restored copy (needs migrations:)


class Backups(Section):
    source: str
    databases: list[str] = Field(default_factory=list)
    schedule: str | None = None
    timezone: str = "UTC"
    grace_hours: float = Field(2.0, ge=0)
    retention: int | None = Field(None, ge=1)
    required_tables: list[str] = Field(default_factory=list)
    max_size_drop: float = Field(0.5, gt=0, le=1)
    size_window: int = Field(7, ge=1)
    identity_file: ProfilePath | None = None  # ssh:// sources: the private key to log in with
    known_hosts_file: ProfilePath | None = None  # ssh:// sources: the host keys to trust
    patterns: list[BackupPattern] = Field(default_factory=lambda: list(DEFAULT_BACKUP_PATTERNS))
    drill: Drill | None = None  # present: verify runs the restore drill (it takes minutes on big dumps)
    min_free_backups: int = Field(3, ge=1)  # the backup volume must have room for this many more
    restore_flavor: Literal["mysql", "mariadb"] | None = None  # where dumps are restored; None: the target's

    @field_validator("source")
    @classmethod
    def _anchor_source(cls, value: str, info: ValidationInfo) -> str:
        if "://" in value:
            if not value.isprintable():  # urlsplit drops tabs and line breaks: ssh would get another name
                raise ValueError(f"{value!r} holds control characters or other unprintable ones")
            parts = _split(value, _SSH_SOURCE)
            if not value.startswith("ssh://") or not parts.path:  # as open_source tells ssh from a folder
                raise ValueError(f"{value!r} is not {_SSH_SOURCE}")
            if parts.port == 0:
                raise ValueError(f"{value!r}: port 0 is no port (ssh would be given its default, 22)")
            for what, name in (("user", parts.username), ("host", parts.hostname)):
                if name is not None and (name.startswith("-") or " " in name):
                    raise ValueError(
                        f"{value!r}: the {what} must not start with '-' or hold spaces "
                        "(ssh would read it as an option)"
                    )
        return _anchored_source(value, info)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from croniter import CroniterBadCronError, croniter  # only profiles with a schedule pay for it

            try:
                croniter(value)
            except (CroniterBadCronError, ValueError) as exc:
                raise ValueError(f"{value!r} is not a cron expression such as '0 3 * * *' ({exc})") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name such as UTC or Europe/Berlin") from None
        return value


class EnvRule(Section):
    name: str
    type: Literal["str", "int", "port", "url", "email", "bool"] | None = None


class Env(Section):
    # a container's name or id as Docker allows them: never a word starting with `-` that the
    # docker command would read as an option
    source: str = Field("process", pattern=r"^(process|dotenv:.+|docker:[A-Za-z0-9][A-Za-z0-9_.-]*)$")
    required: list[str | EnvRule] = Field(default_factory=list)
    forbid: dict[str, list[str] | str] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _anchor_dotenv(cls, value: str, info: ValidationInfo) -> str:
        return _anchored_source(value, info, "dotenv:")


class Imap(Section):
    """The test recipient's mailbox, read over TLS to confirm delivery: implicit TLS (993), or
    STARTTLS (usually on 143); never a password over an unencrypted connection."""

    host: str
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "starttls"] = "tls"
    user: str
    password: SecretStr
    folder: str = "INBOX"
    ca_file: ProfilePath | None = None  # default: the system store
    wait_s: float = Field(120.0, gt=0)  # how long the test email may take to arrive
    authserv_id: str | None = None  # whose Authentication-Results to judge (default: the topmost)


class Smtp(Section):
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "plain"] = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    from_: str | None = Field(None, alias="from")
    test_recipient: str | None = None
    send_test: bool = True  # verify sends the test email to test_recipient (false: for frequent runs)
    notify_to: list[str] = Field(default_factory=list)  # `verify --notify` mails its alerts here
    ca_file: ProfilePath | None = None
    imap: Imap | None = None


class Dns(Section):
    domain: str
    nameservers: list[str] = Field(default_factory=list)
    port: int = Field(53, ge=1, le=65535)
    dkim_selectors: list[str] = Field(default_factory=list)
    relay_ips: list[str] = Field(default_factory=list)


TLS_PORTS = {"https": 443, "smtps": 465, "smtp+starttls": 587}  # a tls.endpoints URL's schemes, default ports


@dataclass(frozen=True)
class Endpoint:
    text: str
    scheme: str  # https | smtps | smtp+starttls | tls
    host: str
    port: int


def parse_endpoint(text: str) -> Endpoint:
    """https://host[:port], smtps://host[:465], smtp+starttls://host[:587], or host:port (plain TLS);
    ValueError saying which of them is allowed."""
    if "://" not in text:
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{text!r} is not host:port or a URL like https://host")
        return Endpoint(text, "tls", host.strip("[]"), int(port))
    parts = _split(text, "a URL like https://host")
    if parts.scheme not in TLS_PORTS:
        raise ValueError(f"{text!r}: the scheme must be https, smtps or smtp+starttls")
    return Endpoint(text, parts.scheme, parts.hostname or "", parts.port or TLS_PORTS[parts.scheme])


class TlsEndpoint(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # the checks' id, kept when the address changes
    endpoint: str


class Tls(Section):
    endpoints: list[str | TlsEndpoint]
    warn_days: int = Field(30, ge=0)
    fail_days: int = Field(14, ge=0)
    ca_file: ProfilePath | None = None

    @field_validator("endpoints")
    @classmethod
    def _parsed(cls, value: list[str | TlsEndpoint]) -> list[str | TlsEndpoint]:
        """Each address read at load: a scheme the probe does not speak is refused before any check runs."""
        for n, entry in enumerate(value):
            try:
                parse_endpoint(entry if isinstance(entry, str) else entry.endpoint)
            except ValueError as exc:
                raise ValueError(f"entry {n}: {exc}") from None
        return value

    def named_endpoints(self) -> list[tuple[str, str]]:
        """(check id, endpoint) per entry; a plain entry is its own id."""
        return [(e, e) if isinstance(e, str) else (e.name, e.endpoint) for e in self.endpoints]


class HttpCheck(Section):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")  # the check's id; default: the URL
    url: Annotated[str, AfterValidator(_http_url)]
    status: int = Field(200, ge=100, le=599)
    json_: dict[str, Any] | None = Field(None, alias="json")
    max_ms: int | None = Field(None, gt=0)


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
    return value


class JourneyRequest(Section):
    """The HTTP request that makes the application send its mail. Header values are masked in
    every output, as profile secrets are, and so is what the body holds under a secret-named
    key (password, token, key...); the rest (the test account's address) stays readable."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: Annotated[str, AfterValidator(_http_url)]
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    json_: Any = Field(None, alias="json")
    form: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_body(self) -> JourneyRequest:
        if self.json_ is not None and self.form is not None:
            raise ValueError("give either json or form, not both")
        return self

    def masked_values(self) -> list[str]:
        """What the body holds under a secret-named key, however deep, for the redactor."""
        found: list[str] = []

        def walk(node: Any, secret: bool) -> None:
            if isinstance(node, dict):
                for key, item in node.items():
                    walk(item, secret or is_secret_name(str(key)))
            elif isinstance(node, list):
                for item in node:
                    walk(item, secret)
            elif secret and isinstance(node, (str, int, float)) and not isinstance(node, bool):
                found.append(str(node))

        walk(self.json_, False)
        walk(self.form, False)
        return found


class JourneyExpect(Section):
    """The mail the request must produce: To (and From) addresses, Subject and body regexes."""

    to: str
    from_: str | None = Field(None, alias="from")
    subject: Annotated[str | None, AfterValidator(_regex)] = None
    body_contains: Annotated[str | None, AfterValidator(_regex)] = None
    links_ok: bool = False  # every link in the mail answers 2xx/3xx over verified TLS (not followed)
    link_hosts: list[Annotated[str, AfterValidator(_host)]] = Field(
        default_factory=list
    )  # default: request.url's


class MailJourney(Section):
    """One of the application's own emails, proved end to end: request, arrival, authentication."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # the check's id
    request: JourneyRequest
    expect: JourneyExpect
    wait_s: float = Field(60.0, gt=0)
    severity: Literal["blocker", "warning", "info"] = "blocker"
    imap: Imap | None = None  # the mailbox of expect.to; default: smtp.imap


class Waiver(Section):
    id: str
    reason: str
    until: date


class Checks(Section):
    severity: dict[str, Literal["blocker", "warning", "info"]] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)


class ScratchServer(Section):
    """A server the team provides for scratch work (drill, rehearsal, drift, lint): deploycheck
    creates and drops only databases whose names start with `prefix` there, as a user granted on
    those alone (checked before anything runs); `tls` as the database's."""

    host: str = "127.0.0.1"
    port: int = Field(3306, ge=1, le=65535)
    socket: ProfilePath | None = None
    user: str
    password: SecretStr = SecretStr("")
    prefix: str = Field("deploycheck_scratch_", pattern=r"^[A-Za-z0-9_]{4,40}$")
    tls: DatabaseTLS | None = None


class Rehearse(Section):
    sample_rows: int = Field(0, ge=0)  # rows copied per table into the rehearsal's copy (0: structure only)


class Drift(Section):
    ignore: list[str] = Field(default_factory=list)  # tables and objects kept outside the migrations
    compare_definers: bool = False  # DEFINER users of views, routines and triggers


class Notify(Section):
    webhook_url: SecretStr | None = None  # an incoming webhook (Slack, Mattermost): a secret
    repeat_hours: float = Field(24.0, gt=0)  # the same failing checks are alerted again after this

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """`${ALERT_WEBHOOK_URL:-}` left empty means no webhook."""
        return None if value == "" else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        """Refused at load, not when the first alert is due; its words never quote the secret."""
        if value is not None:
            try:
                _http_url(value.get_secret_value())
            except ValueError:
                raise ValueError(f"not {_HTTP_URL} (the value is a secret: not shown)") from None
        return value


class Serve(Section):
    token: SecretStr | None = None  # `token_file:` in the profile; required to listen beyond loopback
    allowed_hosts: list[str] = Field(default_factory=list)  # Host names answered besides the bound address

    @classmethod
    def _from_file(cls, key: str, path: Path, text: str) -> str:
        if not text.strip():
            raise ValueError(f"{key}: {path} is empty: write the token into it (or leave {key} out)")
        return text


_ENGINE = (
    "a Docker engine address: unix:///path/to/docker.sock, tcp://host:port, ssh://user@host or "
    "http(s)://host:port"
)


def _engine(value: str | None) -> str | None:
    """What the Docker client takes as base_url, refused at load rather than when the checks run."""
    if value is None or (value.startswith("unix:///") and len(value) > len("unix:///")):
        return value
    if _split(value, _ENGINE).scheme not in ("tcp", "ssh", "http", "https"):
        raise ValueError(f"{value!r} is not {_ENGINE}")
    return value


class ContainerService(Section):
    """What one compose service must look like; unset keys take the section's defaults."""

    image: str | None = None  # the release: `repo:tag`, or `repo@sha256:...` for a digest
    healthy_within_s: float | None = Field(None, gt=0)
    max_restarts: int | None = Field(None, ge=0)
    max_memory_pct: float | None = Field(None, gt=0, le=100)


class Containers(Section):
    """The compose project's containers, read from the Docker engine (read-only API calls)."""

    # default: DOCKER_HOST, else the local socket
    engine: Annotated[str | None, AfterValidator(_engine)] = None
    project: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")  # label com.docker.compose.project
    max_memory_pct: float = Field(90.0, gt=0, le=100)
    max_restarts: int = Field(0, ge=0)
    services: dict[str, ContainerService] = Field(default_factory=dict)

    def service(self, name: str) -> ContainerService:
        """`name`'s settings with the section's defaults filled in."""
        own = self.services.get(name, ContainerService())
        return own.model_copy(
            update={
                "max_restarts": self.max_restarts if own.max_restarts is None else own.max_restarts,
                "max_memory_pct": self.max_memory_pct if own.max_memory_pct is None else own.max_memory_pct,
            }
        )


class Timeouts(Section):
    default_s: float = Field(10.0, gt=0)


class Profile(Section):
    """A whole target profile; `name` and `path` say where it came from."""

    name: str
    path: Path
    target: str = "production"
    database: Database | None = None
    migrations: Migrations | None = None
    backups: Backups | None = None
    env: Env | None = None
    smtp: Smtp | None = None
    dns: Dns | None = None
    tls: Tls | None = None
    http: list[HttpCheck] | None = None
    mail_journeys: list[MailJourney] | None = None
    containers: Containers | None = None
    checks: Checks = Field(default_factory=Checks)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    scratch: Literal["local"] | ScratchServer = "local"
    drift: Drift = Field(default_factory=Drift)
    rehearse: Rehearse = Field(default_factory=Rehearse)
    notify: Notify = Field(default_factory=Notify)
    serve: Serve = Field(default_factory=Serve)  # where the drill restores; never the target

    @model_validator(mode="after")
    def _journeys_have_a_mailbox(self) -> Profile:
        names: set[str] = set()
        for journey in self.mail_journeys or []:
            if journey.name in names:
                raise ValueError(f"mail_journeys: the name {journey.name!r} is given twice")
            names.add(journey.name)
            if journey.imap is None and (self.smtp is None or self.smtp.imap is None):
                raise ValueError(
                    f"mail_journeys: {journey.name!r} has no mailbox to read: give it an imap: "
                    "block, or configure smtp.imap"
                )
        return self

    def mailbox_of(self, journey: MailJourney) -> Imap:
        mailbox = journey.imap or (self.smtp.imap if self.smtp else None)
        assert mailbox is not None  # validated above
        return mailbox
