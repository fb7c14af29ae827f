"""The target's environment variables: present, real values, the right type, nothing forbidden.

Messages name variables and reasons, never values of secret variables. A check with nothing to
judge (no variable required, none holding a value, nothing forbidden) skips, saying why."""

from __future__ import annotations

import pytest

from runner.probes import env as envcheck


def _listing(findings: list[envcheck.EnvFinding]) -> str:
    return "\n".join(f"  {f}" for f in findings)


def _required(profile) -> list[envcheck.EnvRule]:
    """env.required, or skip: no variable required is nothing judged."""
    if not profile.env.required:
        pytest.skip(f"env.required not configured in profile {profile.name}")
    return [envcheck.rule_of(rule) for rule in profile.env.required]


def _holding_a_value(profile, environment) -> list[envcheck.EnvRule]:
    """The required variables that hold a value, or skip: the missing ones are judged once."""
    _required(profile)
    present = envcheck.present(environment, profile.env)
    if not present:
        pytest.skip("no required variable holds a value (test_required_variables_are_set names them)")
    return present


def test_required_variables_are_set(profile, environment, evidence) -> None:
    """Every required variable is set and not empty."""
    names = [rule.name for rule in _required(profile)]
    evidence(
        f"set and not empty: {len(names)} required variable(s) of the {len(environment)} in "
        f"{profile.env.source}: {', '.join(names)}"
    )
    problems = envcheck.missing(environment, profile.env)
    assert not problems, f"required environment variables missing or empty:\n{_listing(problems)}"


def test_no_placeholder_values(profile, environment, evidence) -> None:
    """No required variable still holds a placeholder (changeme, your_*_here, example, ...)."""
    judged = _holding_a_value(profile, environment)
    evidence(
        f"no placeholder in {len(judged)} required variable(s) holding a value: "
        + ", ".join(rule.name for rule in judged)
    )
    problems = envcheck.placeholders(environment, profile.env)
    assert not problems, f"placeholder values left in production:\n{_listing(problems)}"


def test_values_have_the_expected_type(profile, environment, evidence) -> None:
    """Ports are ports, URLs parse, email addresses parse."""
    typed = [
        f"{rule.name} ({kind})"
        for rule in _holding_a_value(profile, environment)
        if (kind := envcheck.inferred_type(rule))
    ]
    if not typed:
        pytest.skip(
            "no required variable that holds a value has a type to check "
            "(a name ending in _PORT, _URL, _URI or _EMAIL, or a type: of its own)"
        )
    evidence(f"values of the expected type: {', '.join(typed)}")
    problems = envcheck.type_errors(environment, profile.env)
    assert not problems, f"variables with values of the wrong type:\n{_listing(problems)}"


def test_no_forbidden_values(profile, environment, evidence) -> None:
    """Values ruled out for this target (e.g. ENVIRONMENT=development) are absent."""
    if not profile.env.forbid:
        pytest.skip(f"env.forbid not configured in profile {profile.name}")
    evidence(f"none of the values env.forbid rules out: {', '.join(profile.env.forbid)}")
    problems = envcheck.forbidden(environment, profile.env)
    assert not problems, f"forbidden values:\n{_listing(problems)}"
