"""Schema versus migrations, for real: the live schema is what the applied migrations build."""

from __future__ import annotations

import pytest


def test_live_schema_matches_the_migrations(schema_drift, record_detail, evidence) -> None:
    """The tables (engine, collation, columns, indexes, keys, checks), views, routines, triggers
    and events in production are those the applied migrations build on a scratch copy;
    `drift.ignore` lists what a team keeps outside the migrations on purpose."""
    record_detail("drift", schema_drift.to_dict())
    if schema_drift.not_compared:
        pytest.skip(schema_drift.not_compared)
    evidence(f"the live schema equals what the applied migrations build on {schema_drift.scratch}")
    assert not schema_drift.differences, "the live schema differs from the migrations:\n" + "\n".join(
        f"  {d.message}" for d in schema_drift.differences
    )


@pytest.mark.severity("warning")
def test_every_kind_of_object_was_compared(schema_drift, evidence) -> None:
    """Views, routines, triggers and events could all be read; what the session cannot see is
    named, never taken as equal."""
    if schema_drift.not_compared:
        pytest.skip(schema_drift.not_compared)
    evidence("tables, views, routines, triggers and events were all read and compared")
    assert not schema_drift.hidden, "not compared, the session cannot see them: " + "; ".join(
        f"{kind} ({why})" for kind, why in schema_drift.hidden.items()
    )
