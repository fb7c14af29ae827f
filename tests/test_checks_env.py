"""checks/test_env.py against a .env file, the process environment and a container's environment."""

from __future__ import annotations

import os
import stat
import textwrap

import pytest

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
            "forbid": {"ENVIRONMENT": ["development", "dev"]},
        }
    )
    return target.profile_path


def test_healthy_dotenv_passes(target, tmp_path, run_checks) -> None:
    run = run_checks(env_profile(target, tmp_path, HEALTHY), "-k", "test_env")
    assert run.outcomes("env") == dict.fromkeys(ENV_CHECKS, "passed") and run.exit_code == 0


def test_missing_and_empty_variables_are_named(target, tmp_path, run_checks) -> None:
    values = {**HEALTHY, "DB_HOST": "  "}
    del values["DB_PASSWORD"]
    check = run_checks(env_profile(target, tmp_path, values), "-k", "test_env").check(
        "test_required_variables_are_set"
    )
    assert check["outcome"] == "failed"
    assert "DB_HOST: is empty" in check["message"] and "DB_PASSWORD: is not set" in check["message"]


@pytest.mark.parametrize(
    "placeholder", ["changeme", "your_password_here", "ci_dummy_pw", "REPLACE_ME", "<secret>"]
)
def test_placeholder_values_are_named_without_their_value(target, tmp_path, run_checks, placeholder) -> None:
    values = {**HEALTHY, "DB_PASSWORD": placeholder}
    check = run_checks(env_profile(target, tmp_path, values), "-k", "placeholder").check(
        "test_no_placeholder_values"
    )
    assert check["outcome"] == "failed"
    assert "DB_PASSWORD: holds a placeholder value" in check["message"]
    assert placeholder not in check["message"]


def test_values_of_the_wrong_type_are_named(target, tmp_path, run_checks) -> None:
    values = {**HEALTHY, "DB_PORT": "eighty", "PUBLIC_URL": "genes dot net", "MAIL_FROM": "nobody"}
    check = run_checks(env_profile(target, tmp_path, values), "-k", "type").check(
        "test_values_have_the_expected_type"
    )
    assert check["outcome"] == "failed"
    for line in (
        "DB_PORT: is not a valid port",
        "PUBLIC_URL: is not a valid url",
        "MAIL_FROM: is not a valid email",
    ):
        assert line in check["message"]


def test_forbidden_value_is_named(target, tmp_path, run_checks) -> None:
    values = {**HEALTHY, "ENVIRONMENT": "development"}
    check = run_checks(env_profile(target, tmp_path, values), "-k", "forbidden").check(
        "test_no_forbidden_values"
    )
    assert check["outcome"] == "failed"
    assert "ENVIRONMENT: is 'development', which env.forbid rules out" in check["message"]


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
    env = " ".join(f"{k}='{v}'" for k, v in {**HEALTHY, "ENVIRONMENT": "development"}.items())
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
