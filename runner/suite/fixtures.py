"""The fixtures the checks ask for: the target's database session, environment, backups,
mail relay, DNS, TLS and HTTP results. Each probes once, concurrently with the others
(see runner.suite.pool), and a section missing from the profile skips its checks."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest

from runner import PROFILE_ENV
from runner.backups.drill import DrillResult, drill
from runner.backups.integrity import BackupCheck, check_in_source
from runner.backups.listing import BackupListing, list_backups
from runner.backups.schedule import Room, room
from runner.backups.source import open_source
from runner.db import connect
from runner.errors import DeploycheckError, FlavorMismatch, MailRefused
from runner.mail import delivery as mail_delivery
from runner.mail import journey as mail_journeys
from runner.mail import records
from runner.mail import smtp as mail_smtp
from runner.migrations.drift import DriftReport, drift
from runner.migrations.engine import Migrator
from runner.migrations.files import MigrationSet
from runner.migrations.lint import Finding, Tables, lint
from runner.migrations.status import MigrationStatus
from runner.probes import containers as container_probe
from runner.probes import http as http_probe
from runner.probes import tls as tls_probe
from runner.probes.env import read_environment
from runner.probes.server_facts import ServerFacts, read_facts
from runner.profile.model import HttpCheck, MailJourney, Profile, parse_endpoint
from runner.sandbox.scratch import open_scratch
from runner.suite.state import EVIDENCE, STATE, RunState, probe_or_fail, section

Probe = tuple[Hashable, Callable[[], Any]]  # the key a probe is memoised by, and the probe


def _state(request: pytest.FixtureRequest) -> RunState:
    state = request.config.stash.get(STATE, None)
    if state is None:
        pytest.skip(f"no deploycheck profile: pass --deploy-profile NAME or set {PROFILE_ENV}")
    return state


# The probes: each fixture below gets its result through one of these, and the plugin starts
# them all as soon as the checks are collected (FIXTURE_PROBES by fixture name, PARAM_PROBES
# by parameter), so the slow ones overlap.


def db_probe(deploy: RunState) -> Probe | None:
    cfg = deploy.profile.database
    if cfg is None:
        return None
    timeout_s = deploy.profile.timeouts.default_s
    return "database", lambda: connect(cfg, timeout_s, read_timeout_s=timeout_s, read_only=True)


def env_probe(deploy: RunState) -> Probe | None:
    cfg = deploy.profile.env
    if cfg is None:
        return None

    def read() -> dict[str, str]:
        env = read_environment(cfg.source, deploy.profile.timeouts.default_s)
        deploy.redactor.add_environment(env)  # its secret values join the masked set
        return env

    return "env", read


def smtp_probe(deploy: RunState) -> Probe | None:
    cfg = deploy.profile.smtp
    if cfg is None:
        return None
    return "smtp", lambda: mail_smtp.probe(cfg, deploy.profile.timeouts.default_s)


def test_email_probe(deploy: RunState) -> Probe | None:
    """The test email to smtp.test_recipient (unless smtp.send_test is false), sent once."""
    smtp = deploy.profile.smtp
    if smtp is None or not smtp.test_recipient or not smtp.send_test:
        return None
    log = deploy.report_dir.parent / "deliveries.jsonl" if deploy.report_dir else None
    return "test-email", lambda: mail_smtp.send_test(smtp, deploy.profile.timeouts.default_s, None, log)


def delivery_probe(deploy: RunState) -> Probe | None:
    """Wait for the test email in smtp.imap's mailbox: started with the other probes, the wait
    overlaps the rest of the run."""
    smtp = deploy.profile.smtp
    sent = test_email_probe(deploy)
    if smtp is None or smtp.imap is None or sent is None:
        return None
    return "delivery", lambda: mail_delivery.confirm(deploy.profile, deploy.probes.get(*sent)[0])


def containers_probe(deploy: RunState) -> Probe | None:
    cfg = deploy.profile.containers
    if cfg is None:
        return None
    return "containers", lambda: container_probe.read_project(cfg, deploy.profile.timeouts.default_s)


def http_probe_of(deploy: RunState, check: HttpCheck) -> Probe:
    ca = deploy.profile.tls.ca_file if deploy.profile.tls else None
    return ("http", check.url), lambda: http_probe.probe(check.url, deploy.profile.timeouts.default_s, ca)


def tls_probe_of(deploy: RunState, endpoint: str) -> Probe:
    cfg = deploy.profile.tls
    assert cfg is not None
    return ("tls", endpoint), lambda: tls_probe.probe(
        parse_endpoint(endpoint), deploy.profile.timeouts.default_s, cfg.ca_file
    )


def journey_probe_of(deploy: RunState, journey: MailJourney) -> Probe:
    """The journey's request, its mail awaited: started with the other probes, as the test email is."""
    return ("mail-journey", journey.name), lambda: mail_journeys.run(deploy.profile, journey)


def listing_probe(deploy: RunState) -> Probe | None:
    cfg = deploy.profile.backups
    if cfg is None:
        return None
    return "backup-listing", lambda: list_backups(cfg, open_source(cfg, deploy.profile.timeouts.default_s))


def drill_probe(deploy: RunState) -> Probe | None:
    """The newest backup of each database restored on the scratch server, one after the other:
    the slowest probe of a nightly run, so it starts first."""
    cfg = deploy.profile.backups
    listed = listing_probe(deploy)
    if cfg is None or cfg.drill is None or listed is None:
        return None

    def run() -> dict[str, DrillResult | None]:
        listing = deploy.probes.get(*listed)
        newest = {
            db: listing.of(db)[-1].name if listing.of(db) else None for db in backup_databases(deploy.profile)
        }
        rehearse = (
            cfg.drill.rehearse
            and deploy.profile.migrations is not None
            and deploy.profile.database is not None
        )
        with open_scratch(deploy.profile) as scratch:
            return {
                db: drill(deploy.profile, listing.source, name, scratch, rehearse=rehearse) if name else None
                for db, name in newest.items()
            }

    return "backup-drill", run


def drift_probe(deploy: RunState) -> Probe | None:
    """The live schema against what the applied migrations build on the scratch server, read
    through a read-only session of its own (the checks' one is not shared across threads)."""
    cfg = deploy.profile.database
    if cfg is None or deploy.profile.migrations is None:
        return None
    timeout_s = deploy.profile.timeouts.default_s

    def run() -> DriftReport:
        with (
            connect(cfg, timeout_s, read_timeout_s=timeout_s, read_only=True) as target,
            open_scratch(deploy.profile) as scratch,
        ):
            return drift(deploy.profile, target, scratch)

    return "schema-drift", run


FIXTURE_PROBES: dict[str, Callable[[RunState], Probe | None]] = {
    "db": db_probe,
    "environment": env_probe,
    "smtp_session": smtp_probe,
    "test_email": test_email_probe,
    "delivery": delivery_probe,
    "backup_listing": listing_probe,
    "backup_drill": drill_probe,
    "schema_drift": drift_probe,
    "containers": containers_probe,
}
PARAM_PROBES: dict[str, Callable[[RunState, Any], Probe]] = {
    "http_check": http_probe_of,
    "tls_endpoint": tls_probe_of,
    "mail_journey": journey_probe_of,
}


# -- fixtures the checks use --------------------------------------------------


@pytest.fixture(scope="session")
def deploy(request: pytest.FixtureRequest) -> RunState:
    return _state(request)


@pytest.fixture(scope="session")
def profile(deploy: RunState) -> Profile:
    return deploy.profile


def _probed(
    deploy: RunState, section_name: str, probe_of: Callable[[RunState], Probe | None], **kw: Any
) -> Any:
    section(deploy.profile, section_name)
    probe = probe_of(deploy)
    assert probe is not None
    return probe_or_fail(deploy, *probe, **kw)


@pytest.fixture(scope="session")
def db(deploy: RunState) -> Iterator[Any]:
    """A read-only session on the target database; checks never write."""
    conn = _probed(deploy, "database", db_probe)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def db_facts(deploy: RunState, db: Any) -> ServerFacts:
    assert deploy.profile.database is not None
    with db.cursor() as cur:
        return read_facts(cur, deploy.profile.database.name)


@pytest.fixture(scope="session")
def migration_status(deploy: RunState, db: Any) -> MigrationStatus:
    section(deploy.profile, "migrations")
    return probe_or_fail(deploy, "migration-status", lambda: Migrator(deploy.profile).status(conn=db))


@pytest.fixture(scope="session")
def pending_lint(
    deploy: RunState, db: Any, migration_status: MigrationStatus, migration_set: MigrationSet
) -> list[Finding]:
    """Lint findings of the pending migrations, with the target's column types and row counts."""
    if not migration_status.pending:
        pytest.skip("nothing pending to lint")
    with db.cursor() as cur:
        tables = Tables.from_target(cur)
    return lint(migration_set, migration_status.pending, tables)


@pytest.fixture(scope="session")
def migration_set(deploy: RunState) -> MigrationSet:
    section(deploy.profile, "migrations")
    return Migrator(deploy.profile).files()


@pytest.fixture(scope="session")
def environment(deploy: RunState) -> dict[str, str]:
    """The target's environment (names and values); its secret values join the masked set."""
    return _probed(deploy, "env", env_probe)


@pytest.fixture()
def http_result(deploy: RunState, http_check: HttpCheck | None) -> http_probe.HttpResult:
    if http_check is None:
        pytest.skip(f"http not configured in profile {deploy.profile.name}")
    return deploy.probes.get(*http_probe_of(deploy, http_check))


@pytest.fixture(scope="session")
def smtp_session(deploy: RunState) -> mail_smtp.SmtpSession:
    """One SMTP session, reused by the SMTP checks; a refusal fails them with the server's words."""
    return _probed(deploy, "smtp", smtp_probe, is_target=False)


def _sending(deploy: RunState) -> None:
    """Skip unless verify sends the test email."""
    cfg = section(deploy.profile, "smtp")
    if not cfg.test_recipient:
        pytest.skip(f"smtp.test_recipient not configured in profile {deploy.profile.name}")
    if not cfg.send_test:
        pytest.skip(f"smtp.send_test is false in profile {deploy.profile.name}")


@dataclass(frozen=True)
class SentEmail:
    """The test email's send: its token (searchable in the mailbox), or the relay's refusal."""

    token: str = ""
    refused: str = ""


@pytest.fixture(scope="session")
def test_email(deploy: RunState) -> SentEmail:
    _sending(deploy)
    probe = test_email_probe(deploy)
    assert probe is not None
    try:
        token, _ = deploy.probes.get(*probe)
    except MailRefused as exc:  # an answer, not a failure to probe: the check judges it
        return SentEmail(refused=deploy.redactor.mask(str(exc)))
    except DeploycheckError:
        return probe_or_fail(deploy, *probe, is_target=False)
    return SentEmail(token=token)


@pytest.fixture(scope="session")
def delivery(deploy: RunState) -> mail_delivery.Delivery:
    """The test email, sent through the relay and read back from smtp.imap (then deleted)."""
    _sending(deploy)
    if deploy.profile.smtp.imap is None:
        pytest.skip(f"smtp.imap not configured in profile {deploy.profile.name}")
    return _probed(deploy, "smtp", delivery_probe, is_target=False)


@pytest.fixture()
def journey_result(deploy: RunState, mail_journey: MailJourney | None) -> mail_journeys.JourneyResult:
    """The journey's outcome; a mailbox that cannot be read fails the check with the reason."""
    if mail_journey is None:
        pytest.skip(f"mail_journeys not configured in profile {deploy.profile.name}")
    return probe_or_fail(deploy, *journey_probe_of(deploy, mail_journey), is_target=False)


@pytest.fixture(scope="session")
def dns_resolver(deploy: RunState) -> Any:
    return records.resolver(section(deploy.profile, "dns"), deploy.profile.timeouts.default_s)


@pytest.fixture(scope="session")
def relay_ips(deploy: RunState, dns_resolver: Any) -> list[str]:
    """dns.relay_ips, or the addresses of the SMTP host."""
    cfg = section(deploy.profile, "dns")
    if cfg.relay_ips:
        return list(cfg.relay_ips)
    if deploy.profile.smtp is None:
        pytest.skip(f"neither dns.relay_ips nor smtp configured in profile {deploy.profile.name}")
    return records.lookup(dns_resolver, deploy.profile.smtp.host, "A")


@pytest.fixture()
def tls_result(deploy: RunState, tls_endpoint: str | None) -> tls_probe.TlsResult:
    if tls_endpoint is None:
        pytest.skip(f"tls not configured in profile {deploy.profile.name}")
    return probe_or_fail(deploy, *tls_probe_of(deploy, tls_endpoint), is_target=False)


@pytest.fixture()
def record_detail(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Attach a fact to this check's entry in the report (`details` in report.json)."""

    def record(key: str, value: Any) -> None:
        request.node.user_properties.append((key, value))

    return record


@pytest.fixture()
def evidence(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Say what the check measured and against what: a passed check's `message` in the report
    (a pass without evidence is a claim nobody can review)."""

    def say(text: str) -> None:
        request.node.stash[EVIDENCE] = text

    return say


@pytest.fixture(scope="session")
def containers(deploy: RunState) -> container_probe.ProjectContainers:
    """Every container of the compose project (containers.project), read once from the engine."""
    return _probed(deploy, "containers", containers_probe)


@pytest.fixture()
def compose_service(
    deploy: RunState, containers: container_probe.ProjectContainers, container_service: str | None
) -> container_probe.Service:
    """One compose service and its containers; a project with none at all fails the check."""
    cfg = deploy.profile.containers
    if container_service is None:
        pytest.fail(
            f"compose project {cfg.project!r} has no containers and containers.services names none",
            pytrace=False,
        )
    return container_probe.service(cfg, containers, container_service)


@pytest.fixture(scope="session")
def backup_listing(deploy: RunState) -> BackupListing:
    return _probed(deploy, "backups", listing_probe)


@pytest.fixture(scope="session")
def backup_drill(deploy: RunState) -> dict[str, DrillResult | None]:
    """The restore drill of each database's newest backup (backups.drill)."""
    cfg = section(deploy.profile, "backups")
    if cfg.drill is None:
        pytest.skip(f"backups.drill not configured in profile {deploy.profile.name}")
    return _probed(deploy, "backups", drill_probe, is_target=False)


@pytest.fixture(scope="session")
def schema_drift(deploy: RunState, db: Any) -> DriftReport:
    """Differences between the live schema and the one the applied migrations build (after
    the database answered the checks' own session: an unreachable target is said once)."""
    section(deploy.profile, "migrations")
    probe = drift_probe(deploy)
    assert probe is not None
    try:
        return deploy.probes.get(*probe)
    except FlavorMismatch as exc:
        pytest.skip(deploy.redactor.mask(str(exc)))
    except DeploycheckError:
        return probe_or_fail(deploy, *probe, is_target=False)


@pytest.fixture(scope="session")
def backup_room(deploy: RunState, backup_listing: BackupListing) -> Room:
    """Free space and inodes on the backup volume against the newest backups' size."""
    cfg = section(deploy.profile, "backups")
    if not backup_databases(deploy.profile):  # no night's size to judge by: not a failing volume
        pytest.skip(no_backup_databases(deploy.profile))
    space = probe_or_fail(deploy, "backup-space", backup_listing.source.space)
    return room(backup_listing, backup_databases(deploy.profile), space, cfg.min_free_backups)


@pytest.fixture(scope="session")
def newest_backups(deploy: RunState, backup_listing: BackupListing) -> dict[str, BackupCheck | None]:
    """Integrity and preview of each database's newest backup, verified concurrently."""
    cfg = deploy.profile.backups
    assert cfg is not None
    probes = {}
    for database in backup_databases(deploy.profile):
        files = backup_listing.of(database)
        if files:
            name = files[-1].name
            probes[database] = (
                ("backup", name),
                partial(check_in_source, backup_listing.source, name, cfg.required_tables),
            )
            deploy.probes.start(*probes[database])
    return {
        database: deploy.probes.get(*probes[database]) if database in probes else None
        for database in backup_databases(deploy.profile)
    }


@dataclass(frozen=True)
class RestoreFlavor:
    """Where backups would be restored (mysql or mariadb), and why that is assumed."""

    flavor: str
    reason: str


@pytest.fixture(scope="session")
def restore_flavor(deploy: RunState, request: pytest.FixtureRequest) -> RestoreFlavor:
    """backups.restore_flavor, else the target's own flavor, as its server reports it."""
    cfg = section(deploy.profile, "backups")
    if cfg.restore_flavor is not None:
        return RestoreFlavor(cfg.restore_flavor, f"backups.restore_flavor is {cfg.restore_flavor}")
    if deploy.profile.database is None:
        pytest.skip(
            f"neither backups.restore_flavor nor database configured in profile {deploy.profile.name}: "
            "where backups are restored is not known"
        )
    facts: ServerFacts = request.getfixturevalue("db_facts")
    return RestoreFlavor(facts.flavor, f"the target is {facts.flavor_name} {facts.version}")


def backup_databases(profile: Profile) -> list[str]:
    if profile.backups is None:
        return []
    if profile.backups.databases:
        return profile.backups.databases
    return [profile.database.name] if profile.database else []


def no_backup_databases(profile: Profile) -> str:
    """Why `backup_databases` is empty, naming the key to set: what each check of a database's
    backups skips with. "Not configured" alone misled where backups.source is set."""
    if profile.backups is None:
        return f"backups not configured in profile {profile.name}"
    return (
        f"backups.databases is empty in profile {profile.name} and it has no database section to take "
        "the name from: which databases' backups to expect is not known; list them in backups.databases"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per configured HTTP endpoint (its id is the URL without query or credentials),
    per backed-up database, DKIM selector, TLS endpoint and mail journey (its name, its severity)."""
    state = metafunc.config.stash.get(STATE, None)
    if "backup_database" in metafunc.fixturenames:
        names = backup_databases(state.profile) if state else []
        metafunc.parametrize("backup_database", names or [None], ids=names or ["not-configured"])
    if "dkim_selector" in metafunc.fixturenames:
        selectors = (state.profile.dns.dkim_selectors if state and state.profile.dns else []) or [None]
        metafunc.parametrize("dkim_selector", selectors, ids=[s or "not-configured" for s in selectors])
    if "tls_endpoint" in metafunc.fixturenames:
        named = state.profile.tls.named_endpoints() if state and state.profile.tls else []
        metafunc.parametrize(
            "tls_endpoint",
            [endpoint for _, endpoint in named] or [None],
            ids=[name for name, _ in named] or ["not-configured"],
        )
    if "mail_journey" in metafunc.fixturenames:
        journeys = (state.profile.mail_journeys or []) if state else []
        metafunc.parametrize(
            "mail_journey",
            [pytest.param(j, id=j.name, marks=pytest.mark.severity(j.severity)) for j in journeys]
            or [pytest.param(None, id="not-configured")],
        )
    if "container_service" in metafunc.fixturenames:
        names = _container_services(state) if state else []
        none = "no-service" if state and state.profile.containers else "not-configured"
        ids = [container_probe.shown(name, 60) for name in names]  # labels are the engine's, not ours
        metafunc.parametrize("container_service", names or [None], ids=ids or [none])
    if "http_check" not in metafunc.fixturenames:
        return
    checks = (state.profile.http or []) if state else []
    if not checks:
        metafunc.parametrize("http_check", [None], ids=["not-configured"])
        return
    # masked: the path may hold a token, and junit.xml and details.html write ids as they are
    ids = [c.name or state.redactor.mask(_url_id(c.url)) for c in checks]
    metafunc.parametrize("http_check", checks, ids=ids)


def _container_services(deploy: RunState) -> list[str]:
    """The profile's services and the engine's: read at collection, so that a service running
    unlisted gets its checks too; an engine that does not answer fails them (see `containers`)."""
    cfg = deploy.profile.containers
    probe = containers_probe(deploy)
    if cfg is None or probe is None:
        return []
    try:
        found = deploy.probes.get(*probe)
    except DeploycheckError:
        found = None
    return container_probe.service_names(cfg, found)


def _url_id(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
