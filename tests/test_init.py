"""`deploycheck init` on compose files in the shapes teams write them: MySQL or MariaDB,
fradelg or another backup image, Traefik labels or nginx-proxy, bind mounts and named volumes,
base plus override, secrets as files, pieces missing; and bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, deploycheck

FIRST_USER = """\
name: sysndd
services:
  mysql:
    image: mysql:8.4
    environment:
      MYSQL_DATABASE: ${MYSQL_DATABASE}
      MYSQL_USER: ${MYSQL_USER}
      MYSQL_PASSWORD: ${MYSQL_PASSWORD}
      MYSQL_ROOT_PASSWORD: ${MYSQL_ROOT_PASSWORD}
    ports: ["127.0.0.1:7654:3306"]
    volumes: ["mysql_data:/var/lib/mysql"]
  mysql-cron-backup:
    image: fradelg/mysql-cron-backup
    environment:
      MYSQL_HOST: mysql
      MYSQL_USER: root
      MYSQL_PASS: ${MYSQL_ROOT_PASSWORD}
      MYSQL_DATABASE: ${MYSQL_DATABASE}
      CRON_TIME: "0 3 * * *"
      MAX_BACKUPS: "60"
      INIT_BACKUP: "1"
      GZIP_LEVEL: "9"
      TZ: Europe/Berlin
    volumes: ["mysql_backup:/backup"]
  api:
    image: sysndd/api:latest
    environment:
      MYSQL_HOST: mysql
      MYSQL_PASSWORD: ${MYSQL_PASSWORD}
      SMTP_HOST: ${SMTP_HOST}
      SMTP_PORT: "587"
      SMTP_USER: ${SMTP_USER}
      SMTP_PASSWORD: ${SMTP_PASSWORD}
      MAIL_FROM: noreply@sysndd.org
    volumes: ["./db/migrations:/app/db/migrations:ro"]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:7777/api/health"]
    labels:
      - traefik.enable=true
      - "traefik.http.routers.api.rule=Host(`api.sysndd.org`)"
  app:
    image: sysndd/app:latest
    labels:
      traefik.http.routers.app.rule: "Host(`sysndd.org`) || Host(`www.sysndd.org`)"
  traefik:
    image: traefik:v3.1
volumes:
  mysql_data: {}
  mysql_backup: {}
"""

FIRST_USER_ENV = """\
MYSQL_DATABASE=sysndd_db
MYSQL_USER=bernt
MYSQL_PASSWORD=Sup3r-Db-Secret-Value
MYSQL_ROOT_PASSWORD=R00t-Secret-Value
SMTP_HOST=smtp.mail-relay.net
SMTP_USER=app@sysndd.org
SMTP_PASSWORD=Smtp-Secret-Value-9
"""
SECRETS = ("Sup3r-Db-Secret-Value", "R00t-Secret-Value", "Smtp-Secret-Value-9")


def _stack(
    tmp_path: Path,
    compose: str | bytes,
    env: str | bytes | None = FIRST_USER_ENV,
    files: dict[str, str] | None = None,
) -> Path:
    """A stack folder; bytes are written as they are (files that are not UTF-8)."""
    stack = tmp_path / "stack"
    stack.mkdir()
    compose = compose if isinstance(compose, bytes) else textwrap.dedent(compose).encode()
    (stack / "docker-compose.yml").write_bytes(compose)
    if env is not None:
        (stack / ".env").write_bytes(env if isinstance(env, bytes) else env.encode())
    for name, text in (files or {}).items():
        path = stack / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return stack


def init(stack: Path, *args: str, env_extra: dict[str, str] | None = None):
    return deploycheck("init", *args, cwd=stack, env={**_clean_env(), **(env_extra or {})})


def _clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "SMTP_", "DEPLOYCHECK_PROFILE"))
    }


def test_the_first_users_stack_gives_a_working_profile(tmp_path) -> None:
    stack = _stack(
        tmp_path,
        FIRST_USER,
        files={
            "db/migrations/000_initialize_base_schema.sql": "CREATE TABLE t (id INT);",
            "api/R/migrate.R": "dbExecute(con, 'SELECT filename FROM schema_version')",
        },
    )
    result = init(stack)
    assert result.returncode == 0, result.stderr
    written = (stack / "profiles" / "sysndd.yml").read_text()
    profile = yaml.safe_load(written)
    assert profile["database"] == {
        "host": "127.0.0.1",
        "port": 7654,
        "name": "sysndd_db",
        "user": "bernt",
        "password": "${MYSQL_PASSWORD}",
        "versions": {"mysql": ">=8.4,<8.5"},
    }
    assert profile["backups"] == {
        "source": "/var/lib/docker/volumes/sysndd_mysql_backup/_data",
        "databases": ["sysndd_db"],
        "schedule": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "retention": 60,
    }
    assert profile["migrations"] == {
        "dir": "../db/migrations",
        "naming": "numbered",
        "ledger": "schema_version",
    }
    assert profile["tls"] == {
        "endpoints": ["https://api.sysndd.org", "https://sysndd.org", "https://www.sysndd.org"]
    }
    assert profile["http"] == [{"name": "api-health", "url": "https://api.sysndd.org/api/health"}]
    assert profile["smtp"] == {
        "host": "smtp.mail-relay.net",
        "port": 587,
        "user": "app@sysndd.org",
        "password": "${SMTP_PASSWORD}",
        "from": "noreply@sysndd.org",
        "security": "starttls",
    }
    assert profile["env"]["source"] == "dotenv:../.env" and "SMTP_PASSWORD" in profile["env"]["required"]
    # every value says where it came from
    assert "# service mysql: ports publishes 3306 on the host" in written
    assert "INIT_BACKUP=1 adds a backup at every container start" in written
    assert "a guess: `schema_version` is named in the application's files" in written
    # no secret value anywhere, in the file or the output
    for secret in SECRETS:
        assert secret not in written and secret not in result.stdout + result.stderr
    assert (
        "next: set -a; . " in result.stdout
        and "deploycheck verify --profile profiles/sysndd.yml" in result.stdout
    )


def test_mariadb_with_an_override_bind_mounts_secrets_and_nginx_proxy(tmp_path) -> None:
    stack = _stack(
        tmp_path,
        """\
        services:
          db:
            image: mariadb:10.11
            environment:
              MARIADB_DATABASE: shop
              MARIADB_USER: shop
              MARIADB_PASSWORD_FILE: /run/secrets/db_password
            secrets: [db_password]
          backup:
            image: databack/mysql-backup:latest
            environment:
              DB_DUMP_CRON: "30 2 * * *"
            volumes: ["./dumps:/backup"]
          web:
            image: shop/web
            environment:
              VIRTUAL_HOST: shop.example.com
              APP_KEY: ${APP_KEY}
        secrets:
          db_password:
            file: ./secrets/db_password.txt
        """,
        env="APP_KEY=base64-app-key-value\n",
        files={"secrets/db_password.txt": "Maria-Secret-Value\n"},
    )
    (stack / "docker-compose.override.yml").write_text(
        "services:\n  db:\n    ports: ['13306:3306']\n  web:\n    environment:\n      - EXTRA_FLAG=1\n"
    )
    result = init(stack, "--name", "shop", "--out", "shop.yml")
    assert result.returncode == 0, result.stderr
    profile = yaml.safe_load((stack / "shop.yml").read_text())
    assert profile["database"]["port"] == 13306  # from the override
    assert profile["database"]["password_file"] == "secrets/db_password.txt"
    assert profile["database"]["versions"] == {"mariadb": ">=10.11,<10.12"}
    assert profile["backups"]["source"] == "dumps" and profile["backups"]["schedule"] == "30 2 * * *"
    assert profile["tls"]["endpoints"] == ["https://shop.example.com"]
    assert profile["env"] == {"source": "dotenv:.env", "required": ["APP_KEY"]}  # the names .env holds
    text = (stack / "shop.yml").read_text()
    assert "Maria-Secret-Value" not in text and "base64-app-key-value" not in text
    assert "not inferred: migrations.dir" in result.stdout


def test_missing_pieces_are_listed_and_the_profile_still_loads(tmp_path) -> None:
    stack = _stack(tmp_path, "services:\n  db:\n    image: mysql:8.0\n", env=None)
    result = init(stack, "--out", "p.yml")
    assert result.returncode == 0, result.stderr
    for missing in ("database.name", "database.user", "database.password", "backups:", "tls.endpoints"):
        assert f"not inferred: {missing}" in result.stdout
    profile = yaml.safe_load((stack / "p.yml").read_text())
    assert profile["database"]["host"] == "db"  # not published: as seen from inside the stack
    assert "# Not inferred" in (stack / "p.yml").read_text()


def test_an_existing_profile_is_kept_without_force(tmp_path) -> None:
    stack = _stack(tmp_path, FIRST_USER)
    (stack / "p.yml").write_text("target: mine\n")
    result = init(stack, "--out", "p.yml")
    assert result.returncode == 2 and "p.yml exists: pass --force" in result.stderr
    assert (stack / "p.yml").read_text() == "target: mine\n"
    assert init(stack, "--out", "p.yml", "--force").returncode == 0


@pytest.mark.parametrize(
    ("compose", "env", "expected"),
    [
        ("services:\n  db:\n    image: [mysql\n", "", "docker-compose.yml:4: not valid YAML"),
        (
            "services:\n  api:\n    extends: {service: base}\n    image: x\n",
            "",
            "services.api.extends: no service 'base' to extend",
        ),
        (FIRST_USER, "MYSQL_DATABASE=x\nthis is not an assignment\n", ".env:2: not NAME=value"),
        (FIRST_USER, b"MYSQL_DATABASE=x\nMYSQL_PASSWORD=\xff\xfe\n", ".env:2: not UTF-8"),
        (b"services:\n  db:\n    image: \xff\n", "", "docker-compose.yml:3: not UTF-8"),
        (
            "services:\n  db:\n    image: " + "${A:-" * 3000 + "x" + "}" * 3000 + "\n",
            "",
            "docker-compose.yml: variables nested deeper than",
        ),
        ("services:\n  app: [1, 2]\n", "", "docker-compose.yml: services.app: a service is a mapping"),
        (
            "services:\n  app:\n    image: x\n    extends: 5\n",
            "",
            "services.app.extends: the name of a service, or a mapping with `service:`",
        ),
        (
            "services:\n  app:\n    image: x\n    environment: 5\n",
            "",
            "services.app.environment: a list of NAME=value or a mapping",
        ),
        ("services:\n  app: {image: x}\n  1: {image: busybox}\n", "", "services.1: a service's name is text"),
    ],
    ids=[
        *("not-yaml", "unknown-extends", "bad-env-line", "binary-env", "binary-compose", "deep-nesting"),
        *("service-not-a-mapping", "extends-a-number", "environment-a-number", "service-named-by-a-number"),
    ],
)
def test_bad_input_names_file_and_line_and_writes_nothing(tmp_path, compose, env, expected) -> None:
    stack = _stack(tmp_path, compose, env=env)
    result = init(stack, "--out", "p.yml")
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (stack / "p.yml").exists()


def test_a_broken_env_line_does_not_print_its_value(tmp_path) -> None:
    """An unclosed quote is the likeliest typo in a .env, and the line holds a password."""
    stack = _stack(tmp_path, FIRST_USER, env="MYSQL_DATABASE=x\nMYSQL_PASSWORD='Zq8vUnclosedPw\n")
    result = init(stack, "--out", "p.yml")
    assert result.returncode == 2 and ".env:2: not NAME=value" in result.stderr
    assert "MYSQL_PASSWORD" in result.stderr and "Zq8v" not in result.stdout + result.stderr


@pytest.mark.parametrize("newline", ["\\n", "\\r", "\\u2028"])
def test_a_line_break_in_a_compose_name_does_not_write_a_key_of_its_own(tmp_path, newline) -> None:
    """A comment quotes service names: a line break in one would end the comment, and what
    follows would be read as the profile's own YAML (here a second env.source)."""
    compose = f"""\
    services:
      "app{newline}  source: dotenv:/etc/evil.env{newline}#":
        image: shop/app
        environment: {{DB_PASSWORD: "${{DB_PASSWORD}}"}}
        healthcheck: {{test: ["CMD", "curl", "http://localhost/health"]}}
    """
    stack = _stack(tmp_path, compose, env="DB_PASSWORD=Shop-Pw-1234\n")
    result = init(stack, "--out", "p.yml")
    assert result.returncode == 0, result.stderr
    written = (stack / "p.yml").read_text()
    assert yaml.safe_load(written)["env"]["source"] == "dotenv:.env"
    assert "evil" not in "".join(line.partition("#")[0] for line in written.splitlines())
    shown = result.stdout.splitlines()  # nor a line of the output of its own
    assert any("evil" in line for line in shown) and not any(line.startswith("  source:") for line in shown)


def test_init_then_verify_against_a_real_database(tmp_path, target) -> None:
    """A compose file that publishes the throwaway server's port: the profile init writes is
    verified as it is, the password coming from the environment."""
    with target.server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'init_ro'@'127.0.0.1' IDENTIFIED BY 'Init-Ro-Passw0rd'")
        cur.execute(f"GRANT SELECT ON `{target.database}`.* TO 'init_ro'@'127.0.0.1'")
    stack = _stack(
        tmp_path,
        f"""\
        services:
          db:
            image: mariadb:10.11
            environment:
              MARIADB_DATABASE: {target.database}
              MARIADB_USER: init_ro
              MARIADB_PASSWORD: ${{DB_PASSWORD}}
            ports: ["127.0.0.1:{target.server.port}:3306"]
        """,
        env="DB_PASSWORD=Init-Ro-Passw0rd\n",
    )
    assert init(stack, "--out", "p.yml").returncode == 0
    env = {**_clean_env(), "DB_PASSWORD": "Init-Ro-Passw0rd"}
    result = deploycheck(
        "verify",
        "--profile",
        "p.yml",
        "--reports",
        str(tmp_path / "reports"),
        "-k",
        "test_database",
        cwd=stack,
        env=env,
    )
    assert result.returncode == 0 and "deploycheck verify: PASSED" in result.stdout, result.stdout[-2000:]
    assert "Init-Ro-Passw0rd" not in result.stdout + result.stderr


# -- secrets in every place compose allows (issue 22.1, 22.2; 21.17) ------------------

HOSTILE = """\
name: vault
x-common: &common
  environment:
    SHARED_API_KEY: ${SHARED_API_KEY}
services:
  db:
    image: mysql:8.4
    environment:
      MYSQL_DATABASE: vault
      MYSQL_USER: vault
      MYSQL_ROOT_PASSWORD: Literal-Root-Pw-0a1b
      MYSQL_PASSWORD: ${DB_PASSWORD}
    ports: ["127.0.0.1:13306:3306"]
  backup:
    image: fradelg/mysql-cron-backup
    environment:
      MYSQL_HOST: db
      MYSQL_PASS: ${DB_ROOT_PW}
      CRON_TIME: "0 3 * * *"
    volumes: ["./dumps/../dumps:/backup"]
  api:
    <<: *common
    image: vault/api
    env_file: [.env]
    environment:
      - DB_HOST=db
      - MYSQL_PASSWORD
      - SENTRY_DSN=https://pub:${SENTRY_SECRET}@sentry.example/1?auth=${SENTRY_QUERY}
      - SMTP_HOST=smtp.relay.example
      - SMTP_PASSWORD
    healthcheck:
      test: curl -f http://monitor:${HEALTH_TOKEN}@localhost:8080/health?token=${HEALTH_TOKEN}&lit=Query-Literal-77x
    labels:
      traefik.http.routers.api.rule: Host(`vault.example.org`)
      com.example.deploy-token: ${LABEL_TOKEN}
      traefik.http.middlewares.auth.basicauth.users: admin:${BASIC_HASH}
    secrets: [api_key]
  worker:
    image: vault/worker
    command: ["run", "--dsn", "mysql://w:${WORKER_PW}@db/vault?ssl=${WORKER_SSL_KEY}"]
    healthcheck:
      test: ["CMD", "wget", "-q", "http://user:Inline-Pw-5522@localhost/ping?key=${PING_KEY}"]
secrets:
  api_key:
    file: ./secrets/api_key.txt
"""
HOSTILE_ENV = """\
DB_PASSWORD=Db-Pass-"quoted"-\\\\-ä
DB_ROOT_PW=Root-Pw-From-Env-9911
SHARED_API_KEY=Shared-Api-Key-4242
SENTRY_SECRET=Sentry-Secret-3131
SENTRY_QUERY=Sentry-Query-Val-88
HEALTH_TOKEN=Health-Token-7c1d
LABEL_TOKEN=Label-Token-6e6e
BASIC_HASH=$$apr1$$Basic-Hash-5f5f
WORKER_PW=Worker-Pw-2b2b
WORKER_SSL_KEY=Worker-Ssl-Key-1c1c
PING_KEY=Ping-Key-Value-9d9d
SMTP_PASSWORD=Smtp-Env-Secret-3e3e
"""
HOSTILE_PROCESS_ENV = {"MYSQL_PASSWORD": "$Process-Env-Db-Pw-${X}", "SENTRY_SECRET": "Sentry-Secret-3131"}
HOSTILE_SECRETS = (
    'Db-Pass-"quoted"',
    "Literal-Root-Pw-0a1b",
    "Root-Pw-From-Env-9911",
    "Shared-Api-Key-4242",
    "Sentry-Secret-3131",
    "Sentry-Query-Val-88",
    "Health-Token-7c1d",
    "Label-Token-6e6e",
    "Basic-Hash-5f5f",
    "Worker-Pw-2b2b",
    "Worker-Ssl-Key-1c1c",
    "Ping-Key-Value-9d9d",
    "Smtp-Env-Secret-3e3e",
    "Process-Env-Db-Pw",
    "Query-Literal-77x",
    "Inline-Pw-5522",
    "File-Secret-Value-4d4d",
)


def test_no_secret_from_any_place_compose_allows_is_written_or_printed(tmp_path) -> None:
    stack = _stack(
        tmp_path, HOSTILE, env=HOSTILE_ENV, files={"secrets/api_key.txt": "File-Secret-Value-4d4d\n"}
    )
    (stack / "dumps").mkdir()
    result = deploycheck("init", cwd=stack, env={**_clean_env(), **HOSTILE_PROCESS_ENV})
    assert result.returncode == 0, result.stderr
    written = {path: path.read_text() for path in stack.rglob("*.yml") if path.name != "docker-compose.yml"}
    assert list(written) == [stack / "profiles" / "vault.yml"]
    for secret in HOSTILE_SECRETS:
        for where, text in [("stdout", result.stdout), ("stderr", result.stderr), *written.items()]:
            assert secret not in text, f"{secret} in {where}"
    profile = yaml.safe_load(written[stack / "profiles" / "vault.yml"])
    # the healthcheck's credentials stay references; its literal query value is left out and listed
    assert profile["http"] == [
        {
            "name": "api-health",
            "url": "https://monitor:${HEALTH_TOKEN}@vault.example.org/health?token=${HEALTH_TOKEN}",
        }
    ]
    assert "http[api-health].url: the query value lit of the healthcheck's URL left out" in result.stdout
    assert (
        "not inferred: http: service worker checks http://user@localhost/ping?key=${PING_KEY}"
        in result.stdout
    )
    assert "http.api-health" not in result.stdout  # an entry, not a key of its own
    assert profile["database"]["password"] == "${DB_PASSWORD}"
    assert profile["backups"]["source"] == "../dumps"  # normalised, relative to profiles/


def test_a_healthcheck_token_is_kept_as_a_reference_in_the_comment_too(tmp_path) -> None:
    """The issue's own case: the comment and http[].url held the token's value."""
    compose = FIRST_USER.replace(
        '"http://localhost:7777/api/health"',
        '"http://monitor:${HEALTH_TOKEN}@localhost:7777/api/health?token=${HEALTH_TOKEN}"',
    )
    stack = _stack(tmp_path, compose, env=FIRST_USER_ENV + "HEALTH_TOKEN=Hc-Token-Value-1234\n")
    result = init(stack)
    assert result.returncode == 0, result.stderr
    written = (stack / "profiles" / "sysndd.yml").read_text()
    assert "Hc-Token-Value-1234" not in written + result.stdout + result.stderr
    assert (
        "healthcheck http://monitor:${HEALTH_TOKEN}@localhost:7777/api/health?token=${HEALTH_TOKEN}"
        in written
    )


def test_required_names_are_ones_the_chosen_source_holds(tmp_path) -> None:
    """dotenv: the .env names the app reads; without an env file, the container's names."""
    compose = """\
    services:
      db:
        image: mysql:8.4
        environment: {MYSQL_DATABASE: "${MYSQL_DATABASE}", MYSQL_PASSWORD: "${MYSQL_PASSWORD}"}
      app:
        image: shop/app
        environment:
          DB_HOST: db
          DB_NAME: ${MYSQL_DATABASE}
          DB_PASSWORD: ${MYSQL_PASSWORD}
          SMTP_HOST: smtp.example
    """
    stack = _stack(tmp_path, compose, env="MYSQL_DATABASE=shop\nMYSQL_PASSWORD=Shop-Pw-1234\nUNUSED=1\n")
    result = init(stack, "--out", "p.yml")
    assert result.returncode == 0, result.stderr
    written = (stack / "p.yml").read_text()
    profile = yaml.safe_load(written)
    assert profile["env"] == {"source": "dotenv:.env", "required": ["MYSQL_DATABASE", "MYSQL_PASSWORD"]}
    assert (
        "the env file .env beside the compose file: the app services (app) read 2 of its variables" in written
    )
    assert "given with --env-file" not in written
    given = init(stack, "--out", "q.yml", "--env-file", ".env")
    assert "the env file .env given with --env-file" in (stack / "q.yml").read_text(), given.stderr
    (stack / ".env").unlink()
    alone = init(stack, "--out", "r.yml", env_extra={"MYSQL_DATABASE": "shop"})
    assert alone.returncode == 0, alone.stderr
    profile = yaml.safe_load((stack / "r.yml").read_text())
    assert profile["env"]["source"] == "docker:stack-app-1"
    assert profile["env"]["required"] == ["DB_HOST", "DB_NAME", "DB_PASSWORD", "SMTP_HOST"]
    assert "(no env file)" in (stack / "r.yml").read_text()


def test_a_secret_that_reaches_a_plain_key_is_masked_by_the_last_guard(tmp_path) -> None:
    compose = FIRST_USER.replace("MYSQL_DATABASE: ${MYSQL_DATABASE}", "MYSQL_DATABASE: ${MYSQL_PASSWORD}", 1)
    stack = _stack(tmp_path, compose)
    result = init(stack)
    assert result.returncode == 0, result.stderr
    written = (stack / "profiles" / "sysndd.yml").read_text()
    assert "name: '********'" in written and "Sup3r-Db-Secret-Value" not in written + result.stdout


def test_a_placeholder_is_not_listed_as_inferred(tmp_path) -> None:
    stack = _stack(tmp_path, "services:\n  db:\n    image: mysql:8.0\n", env=None)
    result = init(stack, "--out", "p.yml")
    inferred = next(line for line in result.stdout.splitlines() if line.startswith("  inferred:"))
    assert "database.name" not in inferred and "database.user" not in inferred
    assert "not inferred: database.name" in result.stdout


def test_backups_databases_are_credited_to_the_service_that_names_them(tmp_path) -> None:
    compose = FIRST_USER.replace(
        "      MYSQL_DATABASE: ${MYSQL_DATABASE}\n      CRON_TIME", "      CRON_TIME"
    )
    stack = _stack(tmp_path, compose)
    assert init(stack).returncode == 0
    written = (stack / "profiles" / "sysndd.yml").read_text()
    line = next(line for line in written.splitlines() if line.lstrip().startswith("databases:"))
    assert "# service mysql: MYSQL_DATABASE" in line


def test_next_says_to_run_inside_the_stack_when_the_database_is_a_service_name(tmp_path) -> None:
    stack = _stack(tmp_path, FIRST_USER.replace('    ports: ["127.0.0.1:7654:3306"]\n', ""))
    result = init(stack, "--out", "profiles/../p.yml")
    assert result.returncode == 0, result.stderr
    assert "next: database.host is the compose service mysql" in result.stdout
    assert "deploycheck verify --profile" not in result.stdout.split("next:")[1].split("(")[0]
    assert "init: wrote p.yml" in result.stdout and "../" not in result.stdout.split("next:")[1]


def test_the_containers_section_names_the_project_its_services_and_their_images(tmp_path) -> None:
    override = """\
    services:
      api:
        image: sysndd/api:${API_TAG}
      worker:
        build: ./worker
      deploycheck:
        image: deploycheck:latest
        profiles: ["checks"]
    """
    stack = _stack(tmp_path, FIRST_USER, env=FIRST_USER_ENV + "API_TAG=9.0.1\n")
    (stack / "docker-compose.override.yml").write_text(textwrap.dedent(override))
    result = init(stack)
    assert result.returncode == 0, result.stderr
    written = (stack / "profiles" / "sysndd.yml").read_text()
    assert yaml.safe_load(written)["containers"] == {
        "project": "sysndd",
        "services": {  # deploycheck's own one-shot service is not started with the stack: left out
            "mysql": {"image": "mysql:8.4"},
            "mysql-cron-backup": {"image": "fradelg/mysql-cron-backup"},
            "api": {"image": "sysndd/api:9.0.1"},
            "app": {"image": "sysndd/app:latest"},
            "traefik": {"image": "traefik:v3.1"},
            "worker": {},
        },
    }
    assert "# service api: image (from $API_TAG), the release it must run" in written
    assert "# service worker: built here, no image name to hold the release to" in written


def test_a_project_name_compose_would_refuse_is_listed_not_written(tmp_path) -> None:
    stack = _stack(tmp_path, FIRST_USER.replace("name: sysndd", "name: Bad Name!"))
    result = init(stack, "--name", "bad")
    assert result.returncode == 0, result.stderr
    assert "containers" not in yaml.safe_load((stack / "profiles" / "bad.yml").read_text())
    assert "not inferred: containers.project: 'Bad Name!' is not a compose project name" in result.stdout


HOST_NETWORK = """\
services:
  db:
    image: mariadb:10.11
    network_mode: host
    command: ["mariadbd", "--bind-address=127.0.0.1", "--port", "${DB_PORT}"]
    environment: {MARIADB_DATABASE: shop, MARIADB_USER: shop, MARIADB_PASSWORD: "${DB_PASSWORD}"}
  api:
    image: shop/api:1
    network_mode: host
    environment: {DB_PORT: "${DB_PORT}"}
    healthcheck:
      test: ["CMD", "curl", "-f", "http://127.0.0.1:${APP_PORT}/health?token=${HEALTH_TOKEN}"]
"""


@pytest.mark.parametrize(
    ("command", "env", "port", "where"),
    [
        ('["mariadbd", "--port", "${DB_PORT}"]', {}, 13306, "--port in its command"),
        ('"mariadbd --port=${DB_PORT}"', {}, 13306, "--port in its command"),
        ("[mariadbd]", {"MYSQL_TCP_PORT": "${DB_PORT}"}, 13306, "MYSQL_TCP_PORT"),
        ("[mariadbd]", {}, 3306, "no --port or MYSQL_TCP_PORT"),
    ],
)
def test_a_host_network_database_is_on_loopback_at_the_port_it_listens_on(
    tmp_path, command, env, port, where
) -> None:
    compose = yaml.safe_load(HOST_NETWORK)
    compose["services"]["db"]["command"] = yaml.safe_load(command)
    compose["services"]["db"]["environment"].update(env)
    stack = _stack(
        tmp_path, yaml.safe_dump(compose), env="DB_PORT=13306\nAPP_PORT=18080\nDB_PASSWORD=Pw-Secret-77\n"
    )
    result = init(stack, "--name", "shop")
    assert result.returncode == 0, result.stderr
    written = (stack / "profiles" / "shop.yml").read_text()
    profile = yaml.safe_load(written)
    assert (profile["database"]["host"], profile["database"]["port"]) == ("127.0.0.1", port)
    assert f"# service db: {where}" in written
    # the health check's URL is this host's loopback too: written as it is, its token a reference
    assert profile["http"] == [
        {"name": "api-health", "url": "http://127.0.0.1:18080/health?token=${HEALTH_TOKEN}"}
    ]
    assert "next: database.host" not in result.stdout and "Pw-Secret-77" not in written + result.stdout


def test_a_host_network_health_url_elsewhere_is_listed_not_guessed(tmp_path) -> None:
    compose = HOST_NETWORK.replace("http://127.0.0.1:${APP_PORT}", "http://api.internal:8080")
    stack = _stack(tmp_path, compose, env="DB_PORT=13306\nDB_PASSWORD=Pw-Secret-77\n")
    result = init(stack, "--name", "shop")
    assert result.returncode == 0, result.stderr
    assert "http" not in yaml.safe_load((stack / "profiles" / "shop.yml").read_text())
    assert "service api checks http://api.internal:8080/health" in result.stdout


# -- --for-container: the profile as the service of examples/compose.deploycheck.yml sees it ----

EXAMPLE = "examples/compose.deploycheck.yml"


def _flat(node: object, prefix: str = "") -> dict[str, object]:
    """A profile's values by dotted key, to compare two profiles key by key."""
    if not isinstance(node, dict):
        return {prefix: node}
    return {
        key: value for k, v in node.items() for key, value in _flat(v, f"{prefix}.{k}".lstrip(".")).items()
    }


def _comment(written: str, start: str) -> str:
    """The comment on the profile's line that starts (indented) with `start`."""
    return next(line for line in written.splitlines() if line.lstrip().startswith(start)).partition("# ")[2]


def _plain_and_for_container(stack: Path, *args: str) -> tuple[dict, dict, str, str]:
    """The values init writes for `stack` on the host and for the container, and the container
    run's profile text and output."""
    assert init(stack, *args, "--out", "plain/p.yml").returncode == 0
    result = init(stack, *args, "--for-container", "--out", "deploycheck/p.yml")
    assert result.returncode == 0, result.stderr
    written = (stack / "deploycheck" / "p.yml").read_text()
    plain = _flat(yaml.safe_load((stack / "plain" / "p.yml").read_text()))
    return plain, _flat(yaml.safe_load(written)), written, result.stdout


def test_for_container_writes_the_first_users_keys_as_the_examples_mounts_see_them(tmp_path) -> None:
    stack = _stack(
        tmp_path,
        FIRST_USER,
        files={"db/migrations/000_initialize_base_schema.sql": "CREATE TABLE t (id INT);"},
    )
    plain, inside, written, out = _plain_and_for_container(stack)
    changed = {key: (plain.get(key), inside.get(key)) for key in plain.keys() | inside.keys()}
    assert {key: both for key, both in changed.items() if both[0] != both[1]} == {
        "database.host": ("127.0.0.1", "mysql"),  # the published port is the host's; the network's is 3306
        "database.port": (7654, 3306),
        "database.password": ("${MYSQL_PASSWORD}", None),
        "database.password_file": (None, "/run/secrets/db_password"),
        "smtp.password": ("${SMTP_PASSWORD}", None),
        "smtp.password_file": (None, "/run/secrets/smtp_password"),
        "backups.source": ("/var/lib/docker/volumes/sysndd_mysql_backup/_data", "/backup"),
        "migrations.dir": ("../db/migrations", "migrations"),
        "env.source": ("dotenv:../.env", "dotenv:app.env"),
    }
    assert _comment(written, "host:") == (
        f"service mysql: the service name, as the service of {EXAMPLE} sees it on the stack's network"
    )
    assert _comment(written, "source: /backup") == (
        "service mysql-cron-backup: the volume mysql_backup (/var/lib/docker/volumes/sysndd_mysql_backup/"
        f"_data on the host), mounted at /backup by {EXAMPLE}: `mysql_backup:/backup:ro`"
    )
    assert _comment(written, "dir:") == (
        f"service api: mounts ./db/migrations ({stack.resolve()}/db/migrations on the host), mounted at "
        f"/config/migrations by {EXAMPLE}: `./db/migrations:/config/migrations:ro`"
    )
    assert _comment(written, "password_file: /run/secrets/db_password") == (
        f"not inferred: the secret db_password of {EXAMPLE} (./secrets/db_password on the host), for the "
        "password service mysql takes from $MYSQL_PASSWORD"
    )
    assert _comment(written, "source: dotenv:app.env").endswith(
        f"mounted at /config/app.env by {EXAMPLE}: `./.env:/config/app.env:ro`"
    )
    assert "# this file mounted in /config (`./deploycheck/p.yml:/config/p.yml:ro`)." in written
    # the passwords the stack takes from variables are the user's to write into the example's secrets
    for secret, service, variable in (("db_password", "mysql", "MYSQL"), ("smtp_password", "api", "SMTP")):
        assert (
            f"not inferred: {secret.split('_')[0].replace('db', 'database')}.password_file: write the "
            f"password service {service} takes from ${variable}_PASSWORD to ./secrets/{secret}"
        ) in out
    assert "next: mount deploycheck/p.yml at /config/p.yml in the service of" in out
    for secret in SECRETS:
        assert secret not in written + out


def test_for_container_on_the_docker_tests_stack_gives_what_it_edited_by_hand(tmp_path) -> None:
    """tests/compose_stack, on the host's network with a compose secret: what
    tests/test_image_and_compose.py ran the example's service with."""
    stack = tmp_path / "stack"
    shutil.copytree(ROOT / "tests" / "compose_stack", stack)
    (stack / ".env").write_text("MYSQL_DATABASE=shop_db\nMYSQL_USER=shop\nDB_PORT=13306\nAPP_PORT=18080\n")
    (stack / "secrets").mkdir()
    (stack / "secrets" / "db_password").write_text("Stack-Db-Pw-3131\n")  # plain init reads it to load
    plain, inside, written, _ = _plain_and_for_container(stack, "--env-file", ".env")
    assert {key: value for key, value in inside.items() if plain.get(key) != value} == {
        "backups.source": "/backup",
        "migrations.dir": "migrations",
        "database.password_file": "/run/secrets/db_password",
        "env.source": "dotenv:app.env",
    }
    assert (inside["database.host"], inside["database.port"]) == ("127.0.0.1", 13306)
    assert plain.keys() == inside.keys()
    assert (
        "# service mysql: MYSQL_PASSWORD_FILE, compose secret db_password (./secrets/db_password on the "
        f"host), given to the service of {EXAMPLE} under secrets:"
    ) in written
    host_network_too = f"give the service of {EXAMPLE} network_mode: host too"
    assert written.count(host_network_too) == 2  # the database and the health check's URL
    assert "Stack-Db-Pw-3131" not in written


def test_for_container_says_what_it_cannot_know(tmp_path) -> None:
    compose = """\
    services:
      db:
        image: mysql:8.4
        environment: {MYSQL_DATABASE: shop, MYSQL_USER: shop, MYSQL_PASSWORD_FILE: /run/secrets/db_pw}
        secrets: [db_pw]
      backup:
        image: fradelg/mysql-cron-backup
        environment: {CRON_TIME: "0 3 * * *"}
      api:
        image: shop/api:1
        environment: {APP_MODE: production}
        healthcheck: {test: ["CMD", "curl", "http://monitor:${HEALTH_TOKEN}@localhost/health"]}
        labels: ["traefik.http.routers.api.rule=Host(`shop.example.org`)"]
    secrets:
      db_pw: {file: ./db_pw.txt}
    """
    stack = _stack(tmp_path, compose, env="HEALTH_TOKEN=Hc-Token-Value-5150\n")
    result = init(stack, "--for-container", "--out", "p.yml")
    assert result.returncode == 0, result.stderr
    written = (stack / "p.yml").read_text()
    profile = yaml.safe_load(written)
    assert profile["database"]["password_file"] == "/run/secrets/db_pw"  # the stack's own secret
    assert profile["backups"]["source"] == "/backup"
    assert (
        "# not inferred: the folder the backup service writes to, mounted at /backup by " + EXAMPLE
    ) in written
    assert "not inferred: backups.source: no volume mounted at /backup in service backup" in result.stdout
    # docker:CONTAINER needs `docker exec`, which the example's service cannot run
    assert "env" not in profile
    assert (
        "not inferred: env: the app services read none of .env's variables, and the service of "
        f"{EXAMPLE} cannot read a container's environment"
    ) in result.stdout
    assert (
        "not inferred: HEALTH_TOKEN: the profile reads ${HEALTH_TOKEN}: set it under environment: of "
        f"the service in {EXAMPLE}"
    ) in result.stdout
    assert "Hc-Token-Value-5150" not in written + result.stdout


def test_for_container_and_remote_are_refused_together(tmp_path) -> None:
    stack = _stack(tmp_path, FIRST_USER)
    result = init(stack, "--for-container", "--remote", "deploy@db.example.org", "--out", "p.yml")
    assert result.returncode == 2 and "pass one of them" in result.stderr
    assert not (stack / "p.yml").exists()
    assert "--for-container" in init(stack, "--help").stdout


@pytest.mark.parametrize(
    ("secret", "backup_mount"),
    [
        ("..", "bk:/backup"),
        ("db_password", "/run/secrets/..:/backup"),
        ("db_password", "/run/secrets/" + "a" * 300 + ":/backup"),
    ],
    ids=["secret-named-dot-dot", "dot-dot-in-a-comment", "long-name-in-a-comment"],
)
def test_for_container_on_a_secret_path_no_file_can_have_exits_2_without_a_traceback(
    tmp_path, secret, backup_mount
) -> None:
    """The stand-in /run/secrets is filled from the profile's text, comments (which quote the
    stack's mounts) included: `..` or a name longer than a file's made it a traceback, exit 1."""
    compose = f"""\
    services:
      db:
        image: mysql:8.4
        environment: {{MYSQL_DATABASE: shop, MYSQL_USER: shop, MYSQL_PASSWORD_FILE: /run/secrets/{secret}}}
      backup:
        image: fradelg/mysql-cron-backup
        volumes: ["{backup_mount}"]
    secrets:
      "{secret}": {{file: ./pw.txt}}
    """
    stack = _stack(tmp_path, compose, env=None, files={"pw.txt": "Dot-Dot-Pw-4545\n"})
    result = init(stack, "--for-container", "--out", "deploycheck/p.yml")
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "Dot-Dot-Pw-4545" not in result.stdout + result.stderr
    if result.returncode == 2:
        assert "does not load" in result.stderr and not (stack / "deploycheck").exists()
    else:
        assert yaml.safe_load((stack / "deploycheck" / "p.yml").read_text())["backups"]["source"] == "/backup"


def test_for_container_takes_a_password_file_named_in_the_env_file(tmp_path) -> None:
    """`MYSQL_PASSWORD_FILE=/run/secrets/db_password` in .env, as the image's docs write it: the
    variable's name says PASSWORD, but its value is the secret's path, which the profile names."""
    compose = """\
    services:
      db:
        image: mysql:8.4
        environment: {MYSQL_DATABASE: shop, MYSQL_USER: shop, MYSQL_PASSWORD_FILE: "${MYSQL_PASSWORD_FILE}"}
        secrets: [db_password]
    secrets:
      db_password: {file: ./secrets/db_password}
    """
    stack = _stack(
        tmp_path,
        compose,
        env="MYSQL_PASSWORD_FILE=/run/secrets/db_password\n",
        files={"secrets/db_password": "Env-File-Pw-6767\n"},
    )
    result = init(stack, "--for-container", "--out", "p.yml")
    assert result.returncode == 0, result.stderr
    written = (stack / "p.yml").read_text()
    assert yaml.safe_load(written)["database"]["password_file"] == "/run/secrets/db_password"
    assert "Env-File-Pw-6767" not in written + result.stdout + result.stderr


@pytest.mark.parametrize("for_container", [False, True], ids=["plain", "for-container"])
def test_a_reference_written_into_the_compose_file_is_not_one_the_profile_reads(
    tmp_path, for_container
) -> None:
    """`$${MYSQL_PASSWORD}` is compose's literal `${MYSQL_PASSWORD}`: written as it is, the profile
    would read the password into a host name (tls.endpoints, http[].url) and the checks would
    send it to that name's DNS server; --for-container even said to give the service the variable."""
    compose = """\
    services:
      db:
        image: mysql:8.4
        environment: {MYSQL_DATABASE: shop, MYSQL_USER: shop, MYSQL_PASSWORD: "${MYSQL_PASSWORD}"}
      web:
        image: shop/web
        healthcheck: {test: ["CMD", "curl", "http://localhost/health/$${MYSQL_PASSWORD}"]}
        labels:
          traefik.http.routers.web.rule: "Host(`shop.example.org`) || Host(`$${MYSQL_PASSWORD}.exfil.example.net`)"
    """
    stack = _stack(tmp_path, compose, env="MYSQL_PASSWORD=Exfil-Pw-8181\n")
    result = init(stack, *(["--for-container"] if for_container else []), "--out", "p.yml")
    assert result.returncode == 0, result.stderr
    profile = yaml.safe_load((stack / "p.yml").read_text())
    assert profile["tls"]["endpoints"] == ["https://shop.example.org"]
    assert "http" not in profile
    assert "tls.endpoints: left out https://${MYSQL_PASSWORD}.exfil.example.net" in result.stdout
    assert "MYSQL_PASSWORD: the profile reads ${MYSQL_PASSWORD}" not in result.stdout


@pytest.mark.parametrize("where", ["a-source-file", "an-extends-file"])
def test_a_file_of_the_repository_that_never_ends_does_not_hang_init(tmp_path, where) -> None:
    """The repository is not trusted: a FIFO (or a link to /dev/zero) where init reads a source
    file for `schema_version`, or a compose file `extends:` names, blocked it (or filled memory)."""
    compose = """\
    services:
      db:
        image: mysql:8.4
        environment: {MYSQL_DATABASE: shop, MYSQL_USER: shop}
      api:
        image: shop/api
        volumes: ["./db:/app/db"]
    """
    if where == "an-extends-file":
        compose += "    extends: {file: base.yml, service: api}\n"
    stack = _stack(tmp_path, compose, env=None, files={"db/001_a.sql": "SELECT 1;"})
    os.mkfifo(stack / ("api.sql" if where == "a-source-file" else "base.yml"))
    try:
        result = deploycheck("init", "--out", "p.yml", cwd=stack, env=_clean_env(), timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"init still reading {where} after 30 s")
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr, result.stderr
    if where == "an-extends-file":
        assert "extends.file: " in result.stderr and "base.yml is not a regular file" in result.stderr


@pytest.mark.parametrize(
    ("command", "ports"), [('["mariadbd", "--port=3307"]', '["127.0.0.1:13307:3307"]'), ("[mariadbd]", "[]")]
)
def test_the_database_port_is_the_one_its_server_listens_on(tmp_path, command, ports) -> None:
    """On the stack's network the port is the server's own (--port, MYSQL_TCP_PORT), not 3306
    always; published, the host's port is the one mapped to it."""
    compose = f"""\
    services:
      db:
        image: mariadb:11.4
        command: {command}
        environment: {{MARIADB_DATABASE: shop, MARIADB_USER: shop, MYSQL_TCP_PORT: "3307"}}
        ports: {ports}
    """
    stack = _stack(tmp_path, compose, env=None)
    for args, seen in (((), ("127.0.0.1", 13307)), (("--for-container",), ("db", 3307))):
        result = init(stack, *args, "--out", "p.yml", "--force")
        assert result.returncode == 0, result.stderr
        database = yaml.safe_load((stack / "p.yml").read_text())["database"]
        expected = seen if ports != "[]" or args else ("db", 3307)
        assert (database["host"], database["port"]) == expected, args
