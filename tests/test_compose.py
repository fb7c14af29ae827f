"""Compose interpolation as the compose specification defines it, on the specification's own
examples (compose-spec, "Interpolation"), and values taken from the environment as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ProfileError
from runner.profile.compose import interpolate, load_compose, referenced_variable

SOURCE = Path("compose.yaml")
SET = {"VARIABLE": "value", "EMPTY": "", "FOO": "foo", "APP_NAME": "catalogue"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${VARIABLE:-default}", "value"),
        ("${EMPTY:-default}", "default"),
        ("${UNSET:-default}", "default"),
        ("${VARIABLE-default}", "value"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${VARIABLE:+replacement}", "replacement"),
        ("${EMPTY:+replacement}", ""),
        ("${UNSET:+replacement}", ""),
        ("${VARIABLE+replacement}", "replacement"),
        ("${EMPTY+replacement}", "replacement"),
        ("${UNSET+replacement}", ""),
        ("${VARIABLE:?err}", "value"),
        ("${EMPTY?err}", ""),
        ("${UNSET:-${FOO}}", "foo"),
        ("${VARIABLE?$FOO}", "value"),
        ("${UNSET:-${OTHER:-default}}", "default"),
        ("${DB_NAME:-${APP_NAME}_db}", "catalogue_db"),
        ("${UNSET:-${APP_NAME:+x-${FOO}}}-end", "x-foo-end"),
        ("$$VAR_NOT_INTERPOLATED_BY_COMPOSE", "$VAR_NOT_INTERPOLATED_BY_COMPOSE"),
        ("$VARIABLE/$FOO", "value/foo"),
        ("${VARIABLE}${FOO}", "valuefoo"),
        ("cost: 5 $ or $1", "cost: 5 $ or $1"),
        ("${UNSET}", ""),
    ],
)
def test_the_specifications_examples(template: str, expected: str) -> None:
    assert interpolate(template, SET, SOURCE) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?set it in .env}", "variable UNSET is required: set it in .env"),
        ("${EMPTY:?must not be empty}", "variable EMPTY is required: must not be empty"),
        ("${UNSET?}", "variable UNSET is required: not set"),
        ("${UNSET?needs $FOO}", "variable UNSET is required: needs foo"),
        ("${VARIABLE:-x", "without its closing"),
        ("${VARIABLE", "`${VARIABLE` is not closed"),
        ("${1abc}", "must be followed by a variable name"),
        ("${VARIABLE%x}", "is not closed"),
    ],
)
def test_required_and_broken_templates_name_the_file(template: str, message: str) -> None:
    with pytest.raises(ProfileError, match=r"compose\.yaml") as caught:
        interpolate(template, SET, SOURCE)
    assert message in str(caught.value)


def test_a_substituted_value_is_not_read_again() -> None:
    """A password holding `$` and `${...}` is a value, not a template."""
    variables = {"MYSQL_PASSWORD": "$ecret${FOO}$$x", "FOO": "foo"}
    assert interpolate("${MYSQL_PASSWORD}", variables, SOURCE) == "$ecret${FOO}$$x"


def test_an_environment_entry_without_value_is_a_reference_to_its_variable(tmp_path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  db:\n    image: mysql\n    environment: [MYSQL_PASSWORD, 'PLAIN=1']\n"
    )
    compose = load_compose([tmp_path / "compose.yaml"], {"MYSQL_PASSWORD": "$ecretValue"})
    raw = compose.environment("db")
    assert raw == {"MYSQL_PASSWORD": "${MYSQL_PASSWORD}", "PLAIN": "1"}
    assert referenced_variable(raw["MYSQL_PASSWORD"]) == "MYSQL_PASSWORD"
    assert compose.value(raw["MYSQL_PASSWORD"]) == "$ecretValue"


@pytest.mark.parametrize(
    ("raw", "name"),
    [("${DB_PASSWORD}", "DB_PASSWORD"), ("$DB_PASSWORD", "DB_PASSWORD"), (" ${X} ", "X")],
)
def test_referenced_variable(raw: str, name: str) -> None:
    assert referenced_variable(raw) == name


@pytest.mark.parametrize("raw", ["${A:-x}", "$$A", "pre${A}", "${A}${B}", "plain", "${1}"])
def test_not_a_plain_reference(raw: str) -> None:
    assert referenced_variable(raw) is None


def test_a_broken_template_does_not_print_its_text() -> None:
    """The text may be a literal password with a `$` in it."""
    with pytest.raises(ProfileError) as caught:
        interpolate("Pa55${word", SET, SOURCE)
    assert "Pa55" not in str(caught.value)
