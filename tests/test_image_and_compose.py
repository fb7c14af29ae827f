"""The project's own image and compose example, run on a real Docker engine (tests/docker_engine.py):
the Dockerfile built from a Debian base made here (mmdebstrap; `--network none`, nothing pulled),
`deploycheck demo` in it without an engine, and a compose stack of local images (MariaDB, an API
with a health check, a nightly-backup container) on which `deploycheck init --for-container`
writes the profile that examples/compose.deploycheck.yml's one-shot service verifies as written:
exit 0 healthy, 1 with the API stopped. Every container is on `--network none` or the host's
network, talking to 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runner.sandbox.mariadb import free_port
from tests.conftest import ROOT, deploycheck
from tests.docker_engine import DockerEngine, debian_rootfs, require, wheelhouse

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a cold cache makes the base first

BASE = "deploycheck-test/debian:bookworm"
OFFLINE = "deploycheck-test/python:offline"  # BASE with the wheelhouse, pip told to use only it
IMAGE = "deploycheck:latest"  # as the README builds it, and the example names it
STACK_IMAGES = (
    "deploycheck-test/mariadb:10.11",
    "deploycheck-test/api:1.0.0",
    "deploycheck-test/mysql-cron-backup:1",
)
IMAGE_USER = 10001  # the Dockerfile's deploycheck user
PROJECT = "shop"  # the stack's folder, so compose's project name
OFFLINE_DOCKERFILE = f"FROM {BASE}\nCOPY . /wheels/\nENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels\n"


def _ok(result, what: str):
    __tracebackhide__ = True
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture(scope="module")
def image(docker_engine: DockerEngine) -> Iterator[str]:
    """The Dockerfile built with BASE, then every image, container and volume of this module removed."""
    try:
        require("mmdebstrap", "docker", "docker-compose")
        rootfs, wheels = debian_rootfs(), wheelhouse(ROOT)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    client = docker_engine.client()
    try:
        docker_engine.import_rootfs(client, rootfs, BASE)
        for tag in STACK_IMAGES:
            client.images.get(BASE).tag(tag)
        _ok(
            docker_engine.cli(
                "build", "--network", "none", "-t", OFFLINE, "-f-", str(wheels), input=OFFLINE_DOCKERFILE
            ),
            "the offline base's build",
        )
        started = time.monotonic()
        _ok(
            docker_engine.cli(
                "build", "--network", "none", "--build-arg", f"BASE={OFFLINE}", "-t", IMAGE, str(ROOT)
            ),
            "docker build of the Dockerfile",
        )
        print(f"docker build: {time.monotonic() - started:.0f} s")
        yield IMAGE
    finally:
        ours = {"label": f"com.docker.compose.project={PROJECT}"}  # a failed `down` leaves them
        for container in client.containers.list(all=True, filters=ours):
            container.remove(force=True, v=True)
        for volume in client.volumes.list(filters=ours):
            volume.remove(force=True)
        for tag in (IMAGE, OFFLINE, *STACK_IMAGES, BASE):
            if client.images.list(name=tag):
                client.images.remove(tag, force=True)
        client.images.prune(filters={"dangling": True})
        client.close()


def test_a_missing_tool_fails_naming_the_package_to_install(monkeypatch, tmp_path) -> None:
    """What these tests say on a machine without mmdebstrap or docker-compose: not a skip."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"not installed: apt-get install mmdebstrap docker-compose \("):
        require("mmdebstrap", "docker-compose")


def _reports_folder(tmp_path: Path) -> Path:
    """A folder the image's user may write its archive to."""
    folder = tmp_path / "reports"
    folder.mkdir()
    os.chown(folder, IMAGE_USER, -1)
    return folder


def test_the_image_runs_the_demo_without_an_engine(image, docker_engine, tmp_path) -> None:
    """`deploycheck demo` in the image, on --network none: everything it starts is its own, on
    the container's loopback; there is no Docker engine, and the container checks say so."""
    reports = _reports_folder(tmp_path)
    result = docker_engine.cli(
        "run", "--rm", "--network", "none", "-v", f"{reports}:/work/reports", image, "demo", timeout_s=300
    )
    found = sorted(reports.glob("demo/*/report.json"))
    assert found, f"no report archived:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = json.loads(found[-1].read_text())
    failed = {c["id"]: c["message"] for c in report["checks"] if c["outcome"] == "failed"}
    assert result.returncode == 0, f"exit {result.returncode}: {failed}"
    skipped = {c["id"].split("::")[1]: c["message"] for c in report["checks"] if c["area"] == "containers"}
    assert len(skipped) == 8 and set(skipped.values()) == {"containers not configured in profile demo"}
    assert report["summary"]["passed"] > 50


@dataclass
class Stack:
    folder: Path
    engine: DockerEngine

    def compose(self, *args: str, timeout_s: float = 240):
        files = ("-f", "docker-compose.yml", "-f", "compose.deploycheck.yml", "-f", "compose.test.yml")
        return self.engine.cli("docker-compose", *files, *args, cwd=self.folder, timeout_s=timeout_s)

    def deploycheck(self, *args: str):
        """deploycheck in its one-shot service, as the example runs it (`run --rm`)."""
        return self.compose("run", "--rm", "deploycheck", *args)

    def report(self) -> dict:
        return json.loads(
            sorted((self.folder / "deploycheck" / "reports").glob("*/*/report.json"))[-1].read_text()
        )


@pytest.fixture(scope="module")
def stack(image, docker_engine, tmp_path_factory) -> Iterator[Stack]:
    """tests/compose_stack up and healthy, the example's service beside it, the profile written by
    `deploycheck init --for-container` (not edited), the migrations applied; `down -v` afterwards."""
    folder = tmp_path_factory.mktemp("compose") / PROJECT
    shutil.copytree(ROOT / "tests" / "compose_stack", folder)
    shutil.copyfile(ROOT / "examples" / "compose.deploycheck.yml", folder / "compose.deploycheck.yml")
    socket_gid = docker_engine.socket.stat().st_gid
    (folder / ".env").write_text(
        f"MYSQL_DATABASE=shop_db\nMYSQL_USER=shop\nDB_PORT={free_port()}\nAPP_PORT={free_port()}\n"
        f"DOCKER_GID={socket_gid}\n"
    )
    # what the test adds to the example: the stack's host network, the test engine's socket
    (folder / "compose.test.yml").write_text(
        yaml.safe_dump(
            {
                "services": {
                    "deploycheck": {
                        "network_mode": "host",
                        "volumes": [f"{docker_engine.socket}:/var/run/docker.sock:ro"],
                    }
                }
            }
        )
    )
    secrets = folder / "secrets"
    secrets.mkdir()
    for name in ("db_password", "smtp_password"):
        (secrets / name).write_text(os.urandom(12).hex() + "\n")
        os.chown(secrets / name, IMAGE_USER, -1)  # read inside the container by the image's user
        (secrets / name).chmod(0o600)
    (folder / "deploycheck" / "reports").mkdir(parents=True)
    os.chown(folder / "deploycheck" / "reports", IMAGE_USER, -1)
    running = Stack(folder, docker_engine)
    try:
        _ok(running.compose("up", "-d"), "docker-compose up")
        _wait_healthy(docker_engine, ("mysql", "api", "mysql-cron-backup"))
        _ok(
            deploycheck(
                "init",
                "--for-container",
                "--env-file",
                ".env",
                "--out",
                "deploycheck/production.yml",
                cwd=folder,
            ),
            "deploycheck init --for-container",
        )
        _ok(running.deploycheck("migrate", "--profile", "/config/production.yml", "--no-backup"), "migrate")
        yield running
    finally:
        running.compose("down", "-v", "--remove-orphans")


def _wait_healthy(engine: DockerEngine, services: tuple[str, ...], timeout_s: float = 120) -> None:
    __tracebackhide__ = True
    client = engine.client()
    deadline = time.monotonic() + timeout_s
    state: dict[str, str] = {}
    while time.monotonic() < deadline:
        listed = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={PROJECT}"})
        state = {
            c.labels["com.docker.compose.service"]: (c.attrs["State"].get("Health") or {}).get(
                "Status", c.status
            )
            for c in listed
        }
        if all(state.get(s) == "healthy" for s in services):
            client.close()
            return
        time.sleep(0.5)
    logs = {c.name: c.logs(tail=20).decode(errors="replace") for c in listed}
    client.close()
    pytest.fail(f"the stack did not become healthy: {state}; logs: {logs}")


def test_init_writes_what_the_stack_runs(stack) -> None:
    profile = yaml.safe_load((stack.folder / "deploycheck" / "production.yml").read_text())
    env = dict(line.split("=", 1) for line in (stack.folder / ".env").read_text().split())
    assert profile["database"]["host"] == "127.0.0.1" and profile["database"]["port"] == int(env["DB_PORT"])
    # paths as the example's service mounts them
    assert profile["database"]["password_file"] == "/run/secrets/db_password"
    assert profile["backups"]["source"] == "/backup" and profile["migrations"]["dir"] == "migrations"
    assert profile["env"]["source"] == "dotenv:app.env"
    assert profile["database"]["versions"] == {"mariadb": ">=10.11,<10.12"}
    assert profile["http"] == [{"name": "api-health", "url": f"http://127.0.0.1:{env['APP_PORT']}/health"}]
    assert profile["backups"]["schedule"] == "0 3 * * *" and profile["backups"]["retention"] == 3
    assert profile["containers"] == {
        "project": PROJECT,
        "services": {
            "mysql": {"image": "deploycheck-test/mariadb:10.11"},
            "api": {"image": "deploycheck-test/api:1.0.0"},
            "mysql-cron-backup": {"image": "deploycheck-test/mysql-cron-backup:1"},
        },
    }


def test_the_example_service_verifies_the_healthy_stack(stack) -> None:
    result = stack.deploycheck()  # the example's command: verify --profile /config/production.yml
    report = stack.report()
    failed = {c["id"]: c["message"] for c in report["checks"] if c["outcome"] in ("failed", "error")}
    assert result.returncode == 0, f"exit {result.returncode}: {failed}\n{result.stdout[-3000:]}"
    passed = {c["id"].split("::")[1] for c in report["checks"] if c["outcome"] == "passed"}
    for service in ("mysql", "api", "mysql-cron-backup"):
        assert {f"test_service_is_running[{service}]", f"test_service_is_healthy[{service}]"} <= passed
        assert f"test_service_runs_the_release[{service}]" in passed
    assert {
        "test_backup_is_fresh[shop_db]",
        "test_endpoint_answers[api-health]",
        "test_nothing_pending",
    } <= passed


def test_a_stopped_service_fails_the_run_naming_it(stack) -> None:
    _ok(stack.compose("stop", "api"), "docker-compose stop api")
    try:
        result = stack.deploycheck()
        report = stack.report()
    finally:
        _ok(stack.compose("start", "api"), "docker-compose start api")
    assert result.returncode == 1, result.stdout[-3000:]
    running = next(c for c in report["checks"] if c["id"].endswith("test_service_is_running[api]"))
    assert running["outcome"] == "failed"
    assert "service 'api'" in running["message"] and "is exited" in running["message"]
    assert "test_service_is_running[api]" in result.stdout


def test_every_container_stayed_on_loopback(stack, docker_engine) -> None:
    """No container had a network of its own: only the host's (services bound to 127.0.0.1) or none."""
    client = docker_engine.client()
    modes = {c.name: c.attrs["HostConfig"]["NetworkMode"] for c in client.containers.list(all=True)}
    networks = {n.name for n in client.networks.list()}
    client.close()
    assert set(modes.values()) <= {"host", "none"}, modes
    assert networks <= {"host", "none", "bridge"}, networks


def test_a_pull_goes_nowhere_but_a_closed_loopback_port(image, docker_engine) -> None:
    """The test engine's safety net: an image it does not hold is not fetched from any registry."""
    result = docker_engine.cli("pull", "busybox:latest", timeout_s=60)
    assert result.returncode != 0 and "127.0.0.1:9" in result.stderr, result.stderr
