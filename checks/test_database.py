"""The database server: reachable (over TLS when asked), a supported version, configured for the app."""

from __future__ import annotations

import pytest

from runner.probes import server_facts


def test_database_is_reachable(profile, db, db_facts, record_detail, evidence) -> None:
    """The database accepts a read-only session: over verified TLS when database.tls.required, over
    TLS whenever the server offers it when database.tls says required: false."""
    record_detail("server_version", db_facts.version)
    session = f"a read-only session on {profile.database.name!r} ({db_facts.flavor_name} {db_facts.version})"
    tls = profile.database.tls
    if db_facts.tls_cipher:
        unverified = tls is not None and not tls.required and not tls.ca
        session += f" over TLS, cipher {db_facts.tls_cipher}" + (
            " (certificate not verified: no database.tls.ca)" if unverified else ""
        )
    else:
        session += ", unencrypted" + (": the server offers no TLS" if not db_facts.tls_offered else "")
    evidence(session)
    if tls is not None:
        record_detail("tls_cipher", db_facts.tls_cipher)
        if tls.required or db_facts.tls_offered:
            assert db_facts.tls_cipher, (
                f"the session is not encrypted although database.tls is configured: {session}"
            )


def test_server_version_is_supported(profile, db_facts, evidence) -> None:
    """Flavor and version lie within the supported ranges (database.versions)."""
    evidence(
        f"{db_facts.flavor_name} {db_facts.numeric_version} within the supported range "
        f"{profile.database.versions.get(db_facts.flavor)}"
    )
    problem = server_facts.version_problem(db_facts, profile.database.versions)
    assert problem is None, problem


def test_default_character_set_is_utf8mb4(profile, db_facts, evidence) -> None:
    """The application database defaults to utf8mb4, so every new table stores all of Unicode."""
    evidence(f"database {profile.database.name!r} defaults to character set {db_facts.charset}")
    assert db_facts.charset == "utf8mb4", (
        f"database {profile.database.name!r} defaults to character set {db_facts.charset!r}, expected utf8mb4"
    )


def test_default_collation_is_utf8mb4(profile, db_facts, evidence) -> None:
    """The database's default collation belongs to utf8mb4."""
    evidence(f"database {profile.database.name!r} defaults to collation {db_facts.collation}")
    assert db_facts.collation.startswith("utf8mb4_"), (
        f"database {profile.database.name!r} defaults to collation {db_facts.collation!r}, expected a utf8mb4_* one"
    )


def test_sql_mode_is_strict(db_facts, evidence) -> None:
    """sql_mode holds STRICT_TRANS_TABLES: bad data is refused, not silently truncated."""
    evidence(f"global sql_mode {','.join(sorted(db_facts.sql_mode))} holds STRICT_TRANS_TABLES")
    assert "STRICT_TRANS_TABLES" in db_facts.sql_mode, (
        f"global sql_mode {','.join(sorted(db_facts.sql_mode)) or '(empty)'} lacks STRICT_TRANS_TABLES"
    )


def test_time_zone_is_as_configured(profile, db_facts, evidence) -> None:
    """The server's time zone is the one the application expects (database.time_zone)."""
    expected = profile.database.time_zone
    if expected is None:
        pytest.skip(f"database.time_zone not configured in profile {profile.name}")
    evidence(
        f"server time_zone {db_facts.time_zone} (system {db_facts.system_time_zone}) is database.time_zone {expected}"
    )
    assert server_facts.zone_matches(db_facts, expected), (
        f"server time_zone is {db_facts.time_zone!r} (system {db_facts.system_time_zone!r}), expected {expected!r}"
    )


def test_required_tables_exist(profile, db_facts, evidence) -> None:
    """Every table the application cannot run without exists."""
    if not profile.database.required_tables:
        pytest.skip(f"database.required_tables not configured in profile {profile.name}")
    evidence(
        f"all {len(profile.database.required_tables)} required tables found among the "
        f"{len(db_facts.tables)} of {profile.database.name!r}: {', '.join(profile.database.required_tables)}"
    )
    absent = [t for t in profile.database.required_tables if t not in db_facts.tables]
    assert not absent, f"required tables missing from {profile.database.name!r}: {', '.join(absent)}"


@pytest.mark.severity("info")
def test_server_facts_are_recorded(db_facts, record_detail, evidence) -> None:
    """Server version and uptime, for whoever reads this report later."""
    evidence(
        f"{db_facts.flavor_name} {db_facts.version}, up {db_facts.uptime_s / 3600:.1f} h, time_zone {db_facts.time_zone}"
    )
    record_detail("version", db_facts.version)
    record_detail("flavor", db_facts.flavor)
    record_detail("uptime_s", db_facts.uptime_s)
    record_detail("time_zone", db_facts.time_zone)
