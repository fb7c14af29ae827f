"""The target's environment variables: present, real values, the right type, nothing forbidden.

Messages name variables and reasons, never values of secret variables."""

from __future__ import annotations

from runner.probes import env as envcheck


def _listing(findings: list[envcheck.EnvFinding]) -> str:
    return "\n".join(f"  {f}" for f in findings)


def test_required_variables_are_set(profile, environment) -> None:
    """Every required variable is set and not empty."""
    problems = envcheck.missing(environment, profile.env)
    assert not problems, f"required environment variables missing or empty:\n{_listing(problems)}"


def test_no_placeholder_values(profile, environment) -> None:
    """No required variable still holds a placeholder (changeme, your_*_here, example, ...)."""
    problems = envcheck.placeholders(environment, profile.env)
    assert not problems, f"placeholder values left in production:\n{_listing(problems)}"


def test_values_have_the_expected_type(profile, environment) -> None:
    """Ports are ports, URLs parse, email addresses parse."""
    problems = envcheck.type_errors(environment, profile.env)
    assert not problems, f"variables with values of the wrong type:\n{_listing(problems)}"


def test_no_forbidden_values(profile, environment) -> None:
    """Values ruled out for this target (e.g. ENVIRONMENT=development) are absent."""
    problems = envcheck.forbidden(environment, profile.env)
    assert not problems, f"forbidden values:\n{_listing(problems)}"
