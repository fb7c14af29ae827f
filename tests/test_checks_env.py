"""checks/test_env.py against a .env file, the process environment and a container's environment."""

from __future__ import annotations

import os
import re
import stat
import textwrap

import pytest

from runner.errors import TargetUnreachable, UsageError
from runner.probes import env as probe
from runner.profile.model import Env, EnvRule

HEALTHY = {
    "DB_HOST": "db.internal",
    "DB_PORT": "3306",
    "DB_PASSWORD": "Prod-Db-Passw0rd-77",
    "PUBLIC_URL": "https://genes.institute.net",
    "MAIL_FROM": "noreply@genes.institute.net",
    "ENVIRONMENT": "production",
}
ENV_CHECKS = [
    "test_required_variables_are_set",
    "test_no_placeholder_values",
    "test_values_have_the_expected_type",
    "test_no_forbidden_values",
]


def env_profile(target, tmp_path, values: dict[str, str], source: str | None = None):
    dotenv = tmp_path / "app.env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    target.write_profile(
        env={
            "source": source or f"dotenv:{dotenv}",
            "required": [
                "DB_HOST",
                "DB_PORT",
                "DB_PASSWORD",
                "PUBLIC_URL",
                {"name": "MAIL_FROM", "type": "email"},
            ],
            "forbid": {"ENVIRONMENT": ["development", "dev"], "APP_DEBUG": ["1", "true"]},
        }
    )
    return target.profile_path


def test_healthy_dotenv_passes(target, tmp_path, run_checks) -> None:
    run = run_checks(env_profile(target, tmp_path, HEALTHY), "-k", "test_env")
    assert run.outcomes("env") == dict.fromkeys(ENV_CHECKS, "passed") and run.exit_code == 0
    assert [run.check(check)["message"] for check in ENV_CHECKS] == [  # what each measured
        f"set and not empty: 5 required variable(s) of the 6 in dotenv:{tmp_path / 'app.env'}: "
        "DB_HOST, DB_PORT, DB_PASSWORD, PUBLIC_URL, MAIL_FROM",
        "no placeholder in 5 required variable(s) holding a value: "
        "DB_HOST, DB_PORT, DB_PASSWORD, PUBLIC_URL, MAIL_FROM",
        "values of the expected type: DB_PORT (port), PUBLIC_URL (url), MAIL_FROM (email)",
        "none of the values env.forbid rules out: APP_DEBUG, ENVIRONMENT",
    ]


def test_missing_and_empty_variables_are_named(target, tmp_path, run_checks) -> None:
    values = {**HEALTHY, "DB_HOST": "  "}
    del values["DB_PASSWORD"]
    check = run_checks(env_profile(target, tmp_path, values), "-k", "test_env").check(
        "test_required_variables_are_set"
    )
    assert check["outcome"] == "failed"
    assert check["message"] == (
        "required environment variables missing or empty:\n    DB_HOST: is empty\n    DB_PASSWORD: is not set"
    )


@pytest.mark.parametrize(
    "placeholder", ["changeme", "your_password_here", "ci_dummy_pw", "REPLACE_ME", "<secret>"]
)
def test_placeholder_values_are_named_without_their_value(target, tmp_path, run_checks, placeholder) -> None:
    values = {**HEALTHY, "DB_PASSWORD": placeholder}
    check = run_checks(env_profile(target, tmp_path, values), "-k", "placeholder").check(
        "test_no_placeholder_values"
    )
    assert check["outcome"] == "failed"
    assert check["message"] == (
        "placeholder values left in production:\n    DB_PASSWORD: holds a placeholder value, not a production one"
    )
    assert placeholder not in check["message"]


def test_values_of_the_wrong_type_are_named(target, tmp_path, run_checks) -> None:
    values = {**HEALTHY, "DB_PORT": "eighty", "PUBLIC_URL": "genes dot net", "MAIL_FROM": "nobody"}
    check = run_checks(env_profile(target, tmp_path, values), "-k", "type").check(
        "test_values_have_the_expected_type"
    )
    assert check["outcome"] == "failed"
    assert check["message"] == (
        "variables with values of the wrong type:\n    DB_PORT: is not a valid port\n"
        "    PUBLIC_URL: is not a valid url\n    MAIL_FROM: is not a valid email"
    )


def test_forbidden_value_is_named(target, tmp_path, run_checks) -> None:
    values = {**HEALTHY, "ENVIRONMENT": "development"}
    check = run_checks(env_profile(target, tmp_path, values), "-k", "forbidden").check(
        "test_no_forbidden_values"
    )
    assert check["outcome"] == "failed"
    assert (
        check["message"]
        == "forbidden values:\n    ENVIRONMENT: is 'development', which env.forbid rules out for this target"
    )


def test_process_environment_is_read(target, tmp_path, run_checks, monkeypatch) -> None:
    for key, value in HEALTHY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PUBLIC_URL")
    run = run_checks(env_profile(target, tmp_path, {}, source="process"), "-k", "test_env")
    assert run.outcome("test_required_variables_are_set") == "failed"
    assert run.check("test_required_variables_are_set")["message"].endswith("PUBLIC_URL: is not set")


@pytest.fixture()
def fake_docker(tmp_path, monkeypatch):
    """Stands in for the Docker engine, which does not run here: answers `docker exec NAME /bin/sh -c CMD`
    for container 'app' by running CMD with that container's environment."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    values = {**HEALTHY, "ENVIRONMENT": "development", "DSN": "mysql://db/app?tls=on&x=="}
    env = " ".join(f"{k}='{v}'" for k, v in values.items())
    script = bindir / "docker"
    script.write_text(
        textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1" = exec ] || exit 2
        [ "$2" = app ] || {{ echo "Error response from daemon: No such container: $2" >&2; exit 1; }}
        exec env -i {env} /bin/sh -c "$5"
        """)
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_container_environment_is_read_through_testinfra(target, tmp_path, run_checks, fake_docker) -> None:
    run = run_checks(env_profile(target, tmp_path, {}, source="docker:app"), "-k", "test_env")
    assert run.outcome("test_required_variables_are_set") == "passed"
    assert run.outcome("test_no_forbidden_values") == "failed"


def test_unknown_container_is_unreachable(target, tmp_path, run_checks, fake_docker) -> None:
    run = run_checks(env_profile(target, tmp_path, {}, source="docker:nope"), "-k", "test_env")
    assert run.exit_code == 3
    assert (
        "cannot read the environment of container 'nope': Error response from daemon: No such container"
        in (run.check("test_required_variables_are_set")["message"])
    )


def test_checks_with_nothing_to_judge_skip_saying_why(target, tmp_path, run_checks) -> None:
    """An env section that requires and forbids nothing judges nothing: no check of it passes."""
    env_profile(target, tmp_path, HEALTHY)
    target.write_profile(env={"required": [], "forbid": {}})
    run = run_checks(target.profile_path, "-k", "test_env or test_database_is_reachable")
    assert run.outcomes("env") == dict.fromkeys(ENV_CHECKS, "skipped")
    for check in ENV_CHECKS[:3]:
        assert run.check(check)["message"].endswith("env.required not configured in profile profile")
    assert run.check("test_no_forbidden_values")["message"].endswith(
        "env.forbid not configured in profile profile"
    )


def test_values_that_are_not_set_are_judged_only_as_missing(target, tmp_path, run_checks) -> None:
    """Placeholders and types are judged on values: with none set, those checks skip and the
    check of the missing variables fails."""
    env_profile(target, tmp_path, {"ENVIRONMENT": "production", "DB_HOST": " "})
    run = run_checks(target.profile_path, "-k", "test_env")
    assert run.outcomes("env") == {
        "test_required_variables_are_set": "failed",
        "test_no_placeholder_values": "skipped",
        "test_values_have_the_expected_type": "skipped",
        "test_no_forbidden_values": "passed",
    }
    assert run.exit_code == 1
    for check in ("test_no_placeholder_values", "test_values_have_the_expected_type"):
        assert run.check(check)["message"].endswith(
            "no required variable holds a value (test_required_variables_are_set names them)"
        )


def test_type_check_without_a_typed_variable_skips(target, tmp_path, run_checks) -> None:
    env_profile(target, tmp_path, HEALTHY)
    target.write_profile(env={"required": ["DB_HOST", "DB_PASSWORD"]})
    run = run_checks(target.profile_path, "-k", "test_env")
    check = run.check("test_values_have_the_expected_type")
    assert check["outcome"] == "skipped" and check["message"].endswith(
        "no required variable that holds a value has a type to check "
        "(a name ending in _PORT, _URL, _URI or _EMAIL, or a type: of its own)"
    )
    assert run.check("test_no_placeholder_values")["message"] == (
        "no placeholder in 2 required variable(s) holding a value: DB_HOST, DB_PASSWORD"
    )
    assert run.exit_code == 0


# -- the probe itself (runner/probes/env.py), without a check run ---------------------


def test_probe_reads_a_dotenv_file_and_the_process(tmp_path, monkeypatch) -> None:
    dotenv = tmp_path / "app.env"
    dotenv.write_text("A=1\nEMPTY=\nBARE\nexport B='two words'\nC=x=y\n")
    assert probe.read_environment(f"dotenv:{dotenv}", 5) == {
        "A": "1",
        "EMPTY": "",
        "BARE": "",
        "B": "two words",
        "C": "x=y",
    }
    monkeypatch.setenv("DEPLOYCHECK_PROBE_VAR", "from the process")
    assert probe.read_environment("process", 5)["DEPLOYCHECK_PROBE_VAR"] == "from the process"
    missing = tmp_path / "nope.env"
    with pytest.raises(UsageError, match=rf"^env\.source: {re.escape(str(missing))} is not a file$"):
        probe.read_environment(f"dotenv:{missing}", 5)
    with pytest.raises(
        UsageError, match=r"^env\.source: 'ftp:x' is not process, dotenv:PATH or docker:CONTAINER$"
    ):
        probe.read_environment("ftp:x", 5)


def test_probe_reads_a_containers_environment(fake_docker) -> None:
    env = probe.read_environment("docker:app", 5)
    assert {k: env[k] for k in HEALTHY} == {**HEALTHY, "ENVIRONMENT": "development"}
    assert env["DSN"] == "mysql://db/app?tls=on&x=="  # split at the first = only
    with pytest.raises(
        TargetUnreachable,
        match=r"^cannot read the environment of container 'nope': Error response from daemon: "
        r"No such container: nope$",
    ):
        probe.read_environment("docker:nope", 5)


RULES = Env(
    required=[
        "APP_PORT",
        "PUBLIC_URL",
        "SOCKET_URI",
        "ADMIN_EMAIL",
        EnvRule(name="WORKERS", type="int"),
        EnvRule(name="DEBUG", type="bool"),
        EnvRule(name="NAME", type="str"),
        "PLAIN",
        "MISSING",
        "BLANK",
    ],
    forbid={"STAGE": ["dev", "Test"], "MODE": "debug", "DB_PASSWORD": ["hunter2"]},
)


def test_probe_infers_types_from_names_or_takes_the_given_one() -> None:
    kinds = {rule.name: probe.inferred_type(rule) for rule in map(probe.rule_of, RULES.required)}
    assert kinds == {
        "APP_PORT": "port",
        "PUBLIC_URL": "url",
        "SOCKET_URI": "url",
        "ADMIN_EMAIL": "email",
        "WORKERS": "int",
        "DEBUG": "bool",
        "NAME": "str",
        "PLAIN": None,
        "MISSING": None,
        "BLANK": None,
    }
    assert probe.inferred_type(EnvRule(name="db_port")) == "port"  # names in any case
    assert probe.inferred_type(EnvRule(name="APP_PORT", type="str")) == "str"  # the given type wins


def _problems(found: list[probe.EnvFinding]) -> list[str]:
    return [str(f) for f in found]


def test_probe_names_missing_and_empty_variables() -> None:
    env = {"APP_PORT": "8080", "BLANK": " \t", "PLAIN": "x"}
    assert _problems(probe.missing(env, Env(required=["APP_PORT", "MISSING", "BLANK", "PLAIN"]))) == [
        "MISSING: is not set",
        "BLANK: is empty",
    ]


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("changeme", True),
        ("Change-Me", True),
        ("replaceme", True),
        ("your_api_key", True),
        ("<token>", True),
        ("${SECRET}", True),
        ("xxx", True),
        ("  TODO ", True),
        ("https://example.com", True),
        ("production", False),
        ("xx", False),
        ("my_password", False),
        ("passwords", False),
    ],
)
def test_probe_tells_placeholders_from_values(value: str, placeholder: bool) -> None:
    found = probe.placeholders({"TOKEN": value}, Env(required=["TOKEN", "UNSET"]))
    assert _problems(found) == (
        ["TOKEN: holds a placeholder value, not a production one"] if placeholder else []
    )


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("int", ["0", "-3", "+42"], ["4.2", "ten", "1 2"]),
        ("port", ["1", "65535", "3306"], ["0", "65536", "-1", "http"]),
        ("bool", ["1", "0", "TRUE", "false", "Yes", "no", "on", "OFF"], ["2", "y", "enabled"]),
        (
            "url",
            ["https://h.example/x", "file:///srv/x", "unix:/run/app.sock"],
            ["h.example", "https://", "/x"],
        ),
        ("email", ["ops@h.example", "Ops <ops@h.example>"], ["ops", "ops@h", "a b@h.example", "@h.example"]),
        ("str", ["anything at all"], []),
    ],
)
def test_probe_checks_values_against_their_type(kind: str, good: list[str], bad: list[str]) -> None:
    cfg = Env(required=[EnvRule(name="V", type=kind)])
    for value in good:
        assert probe.type_errors({"V": value}, cfg) == [], value
    for value in bad:
        assert _problems(probe.type_errors({"V": f" {value} "}, cfg)) == [f"V: is not a valid {kind}"], value
    assert probe.type_errors({"V": "  "}, cfg) == [] and probe.type_errors({}, cfg) == []  # judged as missing


def test_probe_names_forbidden_values_without_a_secrets_value() -> None:
    env = {"STAGE": " TEST ", "MODE": "debug", "DB_PASSWORD": "hunter2", "OTHER": "dev"}
    assert _problems(probe.forbidden(env, RULES)) == [
        "STAGE: is 'TEST', which env.forbid rules out for this target",
        "MODE: is 'debug', which env.forbid rules out for this target",
        "DB_PASSWORD: is a value, which env.forbid rules out for this target",
    ]
    assert probe.forbidden({"STAGE": "prod", "MODE": "debugging"}, RULES) == []
