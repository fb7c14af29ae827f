"""The target's environment variables: present, real values, the right type, nothing forbidden.

Messages name variables and reasons, never values of secret variables."""

from __future__ import annotations

from runner.probes import env as envcheck


def _listing(findings: list[envcheck.EnvFinding]) -> str:
    return "\n".join(f"  {f}" for f in findings)


def _required(profile, environment) -> str:
    """Which required variables were read, and where from (names only, never a value)."""
    names = [envcheck.rule_of(rule).name for rule in profile.env.required]
    return f"{len(names)} required variable(s) of the {len(environment)} in {profile.env.source}: {', '.join(names)}"


def test_required_variables_are_set(profile, environment, evidence) -> None:
    """Every required variable is set and not empty."""
    evidence(f"set and not empty: {_required(profile, environment)}")
    problems = envcheck.missing(environment, profile.env)
    assert not problems, f"required environment variables missing or empty:\n{_listing(problems)}"


def test_no_placeholder_values(profile, environment, evidence) -> None:
    """No required variable still holds a placeholder (changeme, your_*_here, example, ...)."""
    evidence(f"no placeholder in {_required(profile, environment)}")
    problems = envcheck.placeholders(environment, profile.env)
    assert not problems, f"placeholder values left in production:\n{_listing(problems)}"


def test_values_have_the_expected_type(profile, environment, evidence) -> None:
    """Ports are ports, URLs parse, email addresses parse."""
    typed = [
        f"{rule.name} ({kind})"
        for rule in map(envcheck.rule_of, profile.env.required)
        if (kind := envcheck.inferred_type(rule)) and rule.name in environment
    ]
    evidence(f"values of the expected type: {', '.join(typed) or 'no required variable has a type to check'}")
    problems = envcheck.type_errors(environment, profile.env)
    assert not problems, f"variables with values of the wrong type:\n{_listing(problems)}"


def test_no_forbidden_values(profile, environment, evidence) -> None:
    """Values ruled out for this target (e.g. ENVIRONMENT=development) are absent."""
    evidence(
        f"none of the values env.forbid rules out: {', '.join(profile.env.forbid) or 'env.forbid is empty'}"
    )
    problems = envcheck.forbidden(environment, profile.env)
    assert not problems, f"forbidden values:\n{_listing(problems)}"
