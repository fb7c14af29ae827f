"""checks/test_containers.py against a real Docker engine (tests/docker_engine.py): one compose
project whose services are each broken in one way, beside a healthy one, read in one run."""

from __future__ import annotations

import gc
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from runner.errors import TargetUnreachable
from runner.probes import containers as probe
from runner.profile.model import Containers, ContainerService
from tests.conftest import CHECKS, ROOT, CheckRun
from tests.docker_engine import DockerEngine

pytestmark = pytest.mark.slow

PROJECT = "shop"
RELEASE = "deploycheck-test/app:2"
OLD = "deploycheck-test/app:1"
ESC = "\x1b[31m"  # what a hostile health probe prints to colour a terminal
SECRET = "Hook-Secret-7781"  # a profile secret the sick service's probe prints
EVIL = "evil\x1b[2J\nservice"  # a compose service label written to mess up a terminal and the report
_MARK_ONCE = "if [ -f /tmp/probed ]; then exec sleep 900; fi; "  # later probes hang: the log keeps the first
OOM_AFTER_S = 3  # the oom service's wait before it exceeds its memory (see SERVICES)


def _health(test: str, interval_s: float = 1, retries: int = 1) -> dict:
    return {
        "test": ["CMD-SHELL", test],
        "interval": int(interval_s * 1e9),
        "timeout": int(1000 * 1e9),
        "retries": retries,
    }


# service name -> how its container runs (all on --network none, labelled as compose labels them)
SERVICES: dict[str, dict] = {
    "web": dict(
        image=RELEASE,
        command=["sleep", "1000"],
        healthcheck=_health(_MARK_ONCE + "touch /tmp/probed"),
        mem_limit="64m",
    ),
    "late": dict(  # healthy after about 8 s: probes every 3 s, so the log holds every one since the start
        image=RELEASE,
        command=["sh", "-c", "sleep 8; touch /tmp/ready; exec sleep 1000"],
        healthcheck=_health(_MARK_ONCE + "test -f /tmp/ready && touch /tmp/probed", 3, retries=100),
        mem_limit="64m",
    ),
    "sick": dict(
        image=RELEASE,
        command=["sleep", "1000"],
        healthcheck=_health(f"echo '{ESC}db connection refused, hook {SECRET}'; exit 1"),
        mem_limit="64m",
    ),
    "loop": dict(
        image=RELEASE,
        command=["sh", "-c", "sleep 1; exit 3"],
        restart_policy={"Name": "always"},
        mem_limit="64m",
    ),
    "full": dict(  # a tmpfs written near the limit counts as the container's memory
        image=RELEASE,
        command=["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=256k count=58; exec sleep 1000"],
        mem_limit="16m",
        shm_size="32m",
    ),
    "oom": dict(  # its one process killed for writing past its memory (no swap to spill into): exited, OOMKilled
        image=RELEASE,
        # not at once: the engine watches a container's memory for OOM kills only once it has
        # started, and a kill before that (dd fills 8 MiB in milliseconds) is exit 137 with no
        # oom event and OOMKilled false; under load that was 1 start in 3
        command=["sh", "-c", f"sleep {OOM_AFTER_S}; exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=30"],
        mem_limit="8m",
        memswap_limit="8m",
        shm_size="32m",
    ),
    "old": dict(image=OLD, command=["sleep", "1000"], mem_limit="64m"),
    "gone": dict(image=RELEASE, command=["sh", "-c", "exit 2"]),
    "bare": dict(image=RELEASE, command=["sleep", "1000"]),  # no HEALTHCHECK, no memory limit
    EVIL: dict(image=RELEASE, command=["sleep", "1000"], mem_limit="64m"),
}
PROFILE_SERVICES = {
    "web": {"image": RELEASE, "healthy_within_s": 60},
    "late": {"healthy_within_s": 4},
    "old": {"image": RELEASE},
    "loop": {"max_restarts": 1},
    "full": {"max_memory_pct": 80},  # 14.5 MiB of 16 written: about 90%
    "missing": {},  # named in the profile, no container at all
}


def _wait(what: str, ready: Callable[[], bool], seen: Callable[[], str], timeout_s: float = 60) -> None:
    """Until `ready`; else fail saying what the engine reported instead (`seen`), not a bare timeout."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}; the engine reported: {seen()}")
        time.sleep(0.3)


def _reported(container, since: float) -> str:
    """A container's state as the engine reports it, and its events since `since` (Unix time)."""
    state = container.attrs["State"]
    events = [
        event["Action"]
        for event in container.client.events(
            since=int(since), until=int(time.time()) + 1, filters={"container": container.id}, decode=True
        )
    ]
    said = (
        f"{container.name}: {state['Status']}, exit code {state['ExitCode']}, OOMKilled "
        f"{state['OOMKilled']}, health {state.get('Health', {}).get('Status')}, restarts "
        f"{container.attrs['RestartCount']}, error {state['Error']!r}; events: {', '.join(events) or 'none'}"
    )
    if state["Status"] == "exited" and state["ExitCode"] == 137 and "oom" not in events:
        said += " (killed with no oom event: the engine was not yet watching its memory)"
    return said


def _profile(folder: Path, engine: str, **containers: object) -> Path:
    path = folder / "containers.yml"
    section = {"engine": engine, "project": PROJECT, "max_memory_pct": 90, **containers}
    path.write_text(
        yaml.safe_dump(
            {
                "target": "test",
                "containers": section,
                "timeouts": {"default_s": 10},
                "serve": {"token": SECRET},
            }
        )
    )
    return path


def _pytest_checks(profile: Path, report_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`pytest checks --deploy-profile P -k test_containers` as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), "-c", os.devnull, "--rootdir", str(ROOT),
         "-p", "runner.suite.plugin", "-p", "no:cacheprovider", "--deploy-profile", str(profile),
         "--deploy-report-dir", str(report_dir), "-k", "test_containers", *extra],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def _run_checks(profile: Path, report_dir: Path) -> CheckRun:
    result = _pytest_checks(profile, report_dir)
    report = json.loads((report_dir / "report.json").read_text())
    return CheckRun(result.returncode, report, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def stack(docker_engine, tmp_path_factory) -> Iterator[CheckRun]:
    """Every service started at once, each waited for until it shows its case, then one check run;
    removed afterwards: the engine is the session's, and later modules run a project of this name."""
    client = docker_engine.client()
    try:
        yield _started_stack(client, docker_engine, tmp_path_factory)
    finally:
        for container in client.containers.list(all=True):
            if container.labels.get(probe.PROJECT_LABEL) in (PROJECT, "other"):
                container.remove(force=True, v=True)
        client.close()


def _started_stack(client, docker_engine, tmp_path_factory) -> CheckRun:
    docker_engine.import_busybox(client, OLD, "1")
    docker_engine.import_busybox(client, RELEASE, "2")
    started, began = {}, time.time() - 1
    for name, spec in SERVICES.items():
        labels = {probe.PROJECT_LABEL: PROJECT, probe.SERVICE_LABEL: name}
        started[name] = client.containers.run(
            detach=True,
            name=f"{PROJECT}-{re.sub(r'[^a-z]', '', name)}-1",
            labels=labels,
            network_mode="none",
            **spec,
        )
    # another project's sick container and a one-off `compose run` container are not this project's
    client.containers.run(
        RELEASE, ["sleep", "1000"], detach=True, network_mode="none", name="other-web-1",
        labels={probe.PROJECT_LABEL: "other", probe.SERVICE_LABEL: "web"},
    )  # fmt: skip
    client.containers.run(
        RELEASE, ["sh", "-c", "exit 1"], detach=True, network_mode="none", name=f"{PROJECT}-web-run-1",
        labels={probe.PROJECT_LABEL: PROJECT, probe.SERVICE_LABEL: "web", probe.ONEOFF_LABEL: "True"},
    )  # fmt: skip

    def attrs(name: str) -> dict:
        started[name].reload()
        return started[name].attrs

    def health(name: str) -> str | None:
        return attrs(name)["State"].get("Health", {}).get("Status")

    def wait(name: str, what: str, ready: Callable[[], bool]) -> None:
        __tracebackhide__ = True
        _wait(f"{name} {what}", ready, lambda: _reported(started[name], began))

    wait("web", "healthy", lambda: health("web") == "healthy")
    wait("late", "healthy", lambda: health("late") == "healthy")
    wait("sick", "unhealthy", lambda: health("sick") == "unhealthy")
    wait("loop", "restarted twice", lambda: attrs("loop")["RestartCount"] >= 2)
    wait("gone", "exited", lambda: attrs("gone")["State"]["Status"] == "exited")
    wait("oom", "exited", lambda: attrs("oom")["State"]["Status"] == "exited")
    if not attrs("oom")["State"]["OOMKilled"]:  # it will not change: say so now, not after a deadline
        pytest.fail(f"oom exited, but the engine does not say OOM-killed: {_reported(started['oom'], began)}")
    wait(
        "full",
        "filled",
        lambda: started["full"].stats(stream=False)["memory_stats"].get("usage", 0) > 14 * 2**20,
    )
    folder = tmp_path_factory.mktemp("containers")
    return _run_checks(_profile(folder, docker_engine.url, services=PROFILE_SERVICES), folder / "report")


def _check(run: CheckRun, check: str, service: str) -> dict:
    __tracebackhide__ = True
    return run.check(f"{check}[{service}]")


def test_the_healthy_service_passes_every_check(stack) -> None:
    web = {c["id"].split("::")[1]: c["outcome"] for c in stack.report["checks"] if c["id"].endswith("[web]")}
    assert web == {
        "test_service_is_running[web]": "passed",
        "test_service_has_a_health_check[web]": "passed",
        "test_service_is_healthy[web]": "passed",
        "test_service_does_not_restart[web]": "passed",
        "test_service_has_a_memory_limit[web]": "passed",
        "test_service_memory_is_within_limit[web]": "passed",
        "test_service_started_in_time[web]": "passed",
        "test_service_runs_the_release[web]": "passed",
    }
    assert stack.exit_code == 1 and {c["area"] for c in stack.report["checks"]} == {"containers"}
    startup = _check(stack, "test_service_started_in_time", "web")["details"]["startup_s"]
    assert 0 < startup["shop-web-1"] < 60


def test_every_service_of_the_project_gets_checks_and_no_other(stack) -> None:
    services = {c["id"].split("[", 1)[1][:-1] for c in stack.report["checks"]}
    assert services == {*SERVICES, "missing"} - {EVIL} | {"evil [2J service"}


def test_an_exited_container_and_a_service_without_one_are_named(stack) -> None:
    gone = _check(stack, "test_service_is_running", "gone")
    assert gone["outcome"] == "failed"
    assert "container shop-gone-1 is exited (exit code 2)" in gone["message"]
    missing = _check(stack, "test_service_is_running", "missing")
    assert missing["outcome"] == "failed" and "service 'missing' has no container" in missing["message"]


def test_an_unhealthy_service_fails_with_its_last_probe_output(stack) -> None:
    sick = _check(stack, "test_service_is_healthy", "sick")
    assert sick["outcome"] == "failed"
    assert "shop-sick-1 is unhealthy" in sick["message"] and "db connection refused" in sick["message"]
    assert not [
        c["id"] for c in stack.report["checks"] if not c["message"].isprintable()
    ]  # json.dumps escapes
    assert "\x1b" not in stack.output
    assert "hook ********" in sick["message"]
    assert SECRET not in json.dumps(stack.report) and SECRET not in stack.output


def test_a_service_without_health_check_or_memory_limit_warns(stack) -> None:
    for check, words in (
        ("test_service_has_a_health_check", "service 'bare' has no HEALTHCHECK"),
        ("test_service_has_a_memory_limit", "service 'bare' has no memory limit"),
    ):
        bare = _check(stack, check, "bare")
        assert bare["outcome"] == "warned" and bare["severity"] == "warning"
        assert words in bare["message"]
    assert _check(stack, "test_service_is_healthy", "bare")["outcome"] == "skipped"


def test_a_restart_loop_fails(stack) -> None:
    loop = _check(stack, "test_service_does_not_restart", "loop")
    assert loop["outcome"] == "failed"
    assert "container shop-loop-1 restarted" in loop["message"] and "(max_restarts 1)" in loop["message"]


def test_an_oom_kill_fails_the_restart_check_and_is_named_where_it_stopped(stack) -> None:
    oom = _check(stack, "test_service_does_not_restart", "oom")
    assert oom["outcome"] == "failed"
    assert oom["message"] == "container shop-oom-1 was killed for lack of memory (OOM)"
    stopped = _check(stack, "test_service_is_running", "oom")
    assert "shop-oom-1 is exited (exit code 137, killed for lack of memory)" in stopped["message"]


def test_memory_near_the_limit_fails(stack) -> None:
    full = _check(stack, "test_service_memory_is_within_limit", "full")
    assert full["outcome"] == "failed"
    assert "container shop-full-1 uses" in full["message"] and "of its 16 MiB limit" in full["message"]
    assert "(max_memory_pct 80)" in full["message"]


def test_a_late_start_fails_with_its_time(stack) -> None:
    late = _check(stack, "test_service_started_in_time", "late")
    assert late["outcome"] == "failed"
    assert (
        "container shop-late-1 took" in late["message"]
        and "to become healthy" in late["message"]
        and "(healthy_within_s 4)" in late["message"]
    )
    assert late["details"]["startup_s"]["shop-late-1"] > 4
    assert _check(stack, "test_service_is_healthy", "late")["outcome"] == "passed"


def _recorded_not_judged(run) -> dict:
    """web's start-up check without `healthy_within_s`: the time recorded, skipped, never passed."""
    web = _check(run, "test_service_started_in_time", "web")
    assert web["outcome"] == "skipped"
    assert re.fullmatch(
        r"healthy_within_s not configured for service 'web': start to first healthy probe: "
        r"shop-web-1: \d+\.\d s \(recorded, not judged\)",
        web["message"],
    ), web["message"]
    return web


def test_start_up_without_healthy_within_s_is_recorded_not_judged(stack, docker_engine, tmp_path) -> None:
    """No limit to judge the start-up time by: the check records the time and skips, never passes."""
    services = {**PROFILE_SERVICES, "web": {"image": RELEASE}}
    run = _run_checks(_profile(tmp_path, docker_engine.url, services=services), tmp_path / "report")
    web = _recorded_not_judged(run)
    assert 0 < web["details"]["startup_s"]["shop-web-1"] < 60


def test_an_older_release_is_named_with_the_expected_one(stack) -> None:
    old = _check(stack, "test_service_runs_the_release", "old")
    assert old["outcome"] == "failed"
    assert f"runs {OLD} (" in old["message"] and f"not {RELEASE}" in old["message"]


def test_an_engine_that_does_not_answer_is_unreachable(tmp_path) -> None:
    run = _run_checks(_profile(tmp_path, f"unix://{tmp_path}/none.sock"), tmp_path / "report")
    check = run.check("test_service_is_running[no-service]")
    assert run.exit_code == 3 and check["outcome"] == "error"  # as an unreachable database is
    assert "the Docker engine at unix://" in check["message"] and "did not answer" in check["message"]


def test_without_the_section_the_checks_skip(tmp_path) -> None:
    """They skip saying why, never pass; and a run of nothing but them is no verdict."""
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump({"target": "test"}))
    report_dir = tmp_path / "report"
    result = _pytest_checks(path, report_dir, "-rs")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "containers not configured in profile p" in result.stdout + result.stderr
    assert not (report_dir / "report.json").exists()


def _container(log: list[tuple[float, int]], started: datetime) -> probe.Container:
    """A container started at `started` whose health log holds (seconds after start, exit code)."""
    entries = tuple(
        probe.HealthProbe(started + timedelta(seconds=s), started + timedelta(seconds=s + 0.1), code, "")
        for s, code in log
    )
    return probe.Container(
        "c", "s", "running", 0, 0, False, started, "healthy", entries, "app:2", "sha256:" + "a" * 64, (), ()
    )


def test_a_startup_the_health_log_no_longer_holds_is_unknown() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    full = _container([(s, 0) for s in range(1, 6)], start)
    assert probe.startup(full, start + timedelta(seconds=9)).seconds is None
    assert "only the last 5 probes" in probe.startup(full, start).why
    after_restart = _container([(-3, 0), (-2, 0), (1, 1), (2, 0), (3, 0)], start)  # older entries: complete
    assert probe.startup(after_restart, start).seconds == pytest.approx(2.1)


def test_a_digest_release_is_compared_by_digest() -> None:
    running = _container([], datetime(2026, 1, 1, tzinfo=UTC))
    digest = "sha256:" + "b" * 64
    pinned = replace(running, image_digests=(f"ghcr.io/org/api@{digest}",))
    assert probe.image_mismatch(pinned, f"ghcr.io/org/api@{digest}") is None
    problem = probe.image_mismatch(pinned, "ghcr.io/org/api@sha256:" + "c" * 64)
    assert problem and digest in problem and "c" * 64 in problem


def test_a_dockerd_that_cannot_start_fails_with_its_reason(tmp_path) -> None:
    """The engine fixture fails, never skips, when dockerd cannot run: here its data root is a file."""
    (tmp_path / "data").write_text("not a folder")
    engine = DockerEngine(tmp_path)
    with pytest.raises(RuntimeError, match="dockerd did not start") as caught:
        engine.start(timeout_s=60)
    assert "data" in str(caught.value).split("its log ends:")[1]
    assert engine._proc is not None and engine._proc.poll() is not None


def test_what_the_engine_says_is_shown_on_one_line_without_controls() -> None:
    """Escapes, bidi overrides (Trojan Source) and line separators never reach a message whole."""
    said = probe.shown("ok\u202e\u2066gnirts\x1b[2J\u2028next line\r\n" + "x" * 500)
    assert said.startswith("ok gnirts [2J next line x") and len(said) == 200 and said.endswith("...")
    assert all(ch.isprintable() for ch in said)


def test_an_engine_that_accepts_and_never_answers_is_unreachable_within_its_timeout(tmp_path) -> None:
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX) as silent:
        silent.bind(str(path))
        silent.listen(8)
        profile = _profile(tmp_path, f"unix://{path}")
        data = yaml.safe_load(profile.read_text())
        profile.write_text(yaml.safe_dump({**data, "timeouts": {"default_s": 2}}))
        began = time.monotonic()
        run = _run_checks(profile, tmp_path / "report")
        took = time.monotonic() - began
    check = run.check("test_service_is_running[no-service]")
    assert run.exit_code == 3 and "did not answer" in check["message"] and "timed out" in check["message"]
    assert took < 60  # without a timeout the run would hang until it is killed


# -- the probe on the engine's own JSON ----------------------------------------------
# Fast tests of the probe's reading and judging, for the mutation run (docs/mutation.md): a check
# run needs the engine started and the stack waited for, about a minute per mutant.

ENGINE_JSON = Path(__file__).with_name("container_engine_shop.json")


@pytest.fixture(scope="module")
def engine_json() -> dict:
    """What the test engine answered, captured once and stored: real data, not a made-up reply.
    SERVICES (plus `cached`, which wrote 8 MB to its own file system: page cache for the memory
    reading) were run as the `stack` fixture runs them, then read with the calls `_read` makes:
    the listing, inspect_container, inspect_image and one-shot stats of each running container."""
    return json.loads(ENGINE_JSON.read_text())


@pytest.fixture(scope="module")
def stored(engine_json) -> dict[str, probe.Container]:
    """The stored containers as the probe reads them, by name."""
    read = {}
    for entry in engine_json["listed"]:
        attrs = engine_json["containers"][entry["Id"]]
        stats = engine_json["stats"].get(entry["Id"])
        used = probe._memory(stats) if stats else None
        image = engine_json["images"][attrs["Image"]]
        container = probe._container(attrs, entry["Labels"][probe.SERVICE_LABEL], image, used)
        read[container.name] = container
    return read


def _at(second: int, micro: int) -> datetime:
    return datetime(2026, 12, 6, 18, 42, 0, tzinfo=UTC) + timedelta(seconds=second, microseconds=micro)


def test_probe_reads_each_container_as_the_engine_inspected_it(stored) -> None:
    web = stored["shop-web-1"]
    assert (web.service, web.status, web.exit_code, web.restart_count, web.oom_killed) == (
        "web", "running", 0, 0, False,
    )  # fmt: skip
    assert web.started_at == _at(51, 420158)  # "…51.420158245Z": nanoseconds cut
    assert web.health == "healthy" and web.health_log == (
        probe.HealthProbe(_at(52, 420792), _at(52, 487738), 0, ""),
    )
    assert (web.image_ref, web.image_tags, web.image_digests) == (RELEASE, (RELEASE,), ())
    assert web.image_id.startswith("sha256:6247d6d0d1a6") and web.image_shown == f"{RELEASE} (6247d6d0d1a6)"
    assert (web.memory_limit, web.memory_used, web.is_running) == (64 * 2**20, 450560, True)
    sick = stored["shop-sick-1"]
    assert [p.exit_code for p in sick.health_log] == [1] * 5
    assert sick.health_log[-1].output == f"{ESC}db connection refused, hook {SECRET}\n"
    gone, oom, loop = stored["shop-gone-1"], stored["shop-oom-1"], stored["shop-loop-1"]
    assert (gone.status, gone.exit_code, gone.oom_killed, gone.memory_used) == ("exited", 2, False, None)
    assert (oom.status, oom.exit_code, oom.oom_killed, oom.memory_limit) == ("exited", 137, True, 8 * 2**20)
    assert (loop.status, loop.restart_count, loop.is_running) == ("restarting", 7, False)
    bare = stored["shop-bare-1"]
    assert (bare.health, bare.health_log, bare.memory_limit) == (None, (), None)
    assert stored["shop-old-1"].image_tags == (OLD,)
    assert stored["shop-evilservice-1"].service == EVIL


def test_probe_reads_memory_as_docker_stats_counts_it(engine_json, stored) -> None:
    """Usage less the inactive page cache: the 8 MB `cached` wrote are not its memory (cgroup v1
    names the figure total_inactive_file, v2 inactive_file: the same reading without the v1 keys)."""
    assert stored["shop-cached-1"].memory_used == 8941568 - 8388608
    stats = next(s for s in engine_json["stats"].values() if s["name"] == "/shop-cached-1")
    detail = {k: v for k, v in stats["memory_stats"]["stats"].items() if not k.startswith("total_")}
    assert probe._memory({"memory_stats": {**stats["memory_stats"], "stats": detail}}) == 552960
    assert probe._memory({"memory_stats": {"usage": 4096}}) == 4096
    assert probe._memory({"memory_stats": {"usage": 4096, "stats": {"inactive_file": 8192}}}) == 0
    assert probe._memory({"memory_stats": {}}) is None and probe._memory({}) is None


def test_probe_reads_the_engine_times() -> None:
    assert probe._time("2026-12-06T18:42:51.420158245Z") == _at(51, 420158)
    assert probe._time("2026-12-06T18:42:51.4+01:00") == _at(51, 400000) - timedelta(hours=1)
    assert probe._time("2026-12-06T18:42:51Z") == _at(51, 0)
    assert probe._time("0001-01-01T00:00:00Z") is None  # the FinishedAt of a running container
    assert probe._time("") is None and probe._time(None) is None and probe._time("soon") is None


def test_probe_names_each_container_that_is_not_running(stored) -> None:
    assert probe.not_running("web", [stored["shop-web-1"]]) is None
    assert probe.not_running("missing", []) == "service 'missing' has no container"
    assert probe.not_running("gone", [stored["shop-gone-1"]]) == (
        "service 'gone': container shop-gone-1 is exited (exit code 2)"
    )
    three = [stored["shop-oom-1"], stored["shop-web-1"], stored["shop-loop-1"]]
    assert probe.not_running("oom", three) == (
        "service 'oom': container shop-oom-1 is exited (exit code 137, killed for lack of memory); "
        "container shop-loop-1 is restarting"
    )


def test_probe_judges_health_by_the_last_probe(stored) -> None:
    assert probe.unhealthy(stored["shop-web-1"]) is None and probe.unhealthy(stored["shop-bare-1"]) is None
    sick = stored["shop-sick-1"]
    assert probe.unhealthy(sick) == (
        "container shop-sick-1 is unhealthy; last probe exit code 1: [31mdb connection refused, hook "
        + SECRET
    )  # redacted later, by the report; here only made printable
    passed_last = replace(sick, health_log=(*sick.health_log, *stored["shop-web-1"].health_log))
    assert (
        probe.unhealthy(passed_last)
        == "container shop-sick-1 is unhealthy; last probe exit code 0: (no output)"
    )
    assert probe.unhealthy(replace(sick, health_log=())) == "container shop-sick-1 is unhealthy"


def test_probe_judges_restarts_and_oom_kills(stored) -> None:
    loop = stored["shop-loop-1"]
    assert probe.restarts(loop, ContainerService(max_restarts=1)) == (
        "container shop-loop-1 restarted 7 times (max_restarts 1)"
    )
    assert probe.restarts(loop, ContainerService(max_restarts=7)) is None
    assert probe.restarts(stored["shop-oom-1"], ContainerService(max_restarts=0)) == (
        "container shop-oom-1 was killed for lack of memory (OOM)"
    )
    assert probe.restarts(replace(loop, oom_killed=True), ContainerService(max_restarts=1)) == (
        "container shop-loop-1 restarted 7 times (max_restarts 1) and was killed for lack of memory (OOM)"
    )
    assert probe.restarts(stored["shop-web-1"], ContainerService(max_restarts=0)) is None


def test_probe_reads_memory_against_the_limit(stored) -> None:
    assert probe.memory_pct(stored["shop-full-1"]) == pytest.approx(100 * 15560704 / 16777216)
    assert probe.memory_pct(stored["shop-bare-1"]) is None  # no limit
    assert probe.memory_pct(stored["shop-gone-1"]) is None  # not running: no reading


def test_probe_times_the_start_up_from_the_health_log(stored) -> None:
    now = _at(120, 0)
    web, late, sick = stored["shop-web-1"], stored["shop-late-1"], stored["shop-sick-1"]
    assert probe.startup(web, now) == probe.Startup(pytest.approx(52.487738 - 51.420158), "", 0.0)
    assert probe.startup(late, now).seconds == pytest.approx(60.885522 - 51.646564)  # two failed first
    assert probe.startup(sick, now) == probe.Startup(
        None,
        "the engine keeps only the last 5 probes and the first healthy one since the start is no longer among them",
        0.0,  # not a time waited: the check would hold it against healthy_within_s
    )  # five probes, all since the start: the first ones are gone
    early = probe.startup(replace(sick, health_log=sick.health_log[:3]), _at(127, 897707))
    assert early == probe.Startup(None, "no healthy probe yet, 76 s after the start", pytest.approx(76.0))
    assert probe.startup(replace(web, started_at=None), now) == probe.Startup(
        None, "the engine has no start time", 0.0
    )


def test_probe_compares_the_release_as_the_engine_names_it(stored) -> None:
    old, web = stored["shop-old-1"], stored["shop-web-1"]
    assert probe.image_mismatch(old, RELEASE) == (
        f"container shop-old-1 runs {OLD} ({old.image_id[7:19]}) [{OLD}], not {RELEASE}"
    )
    assert probe.image_mismatch(web, f"docker.io/{RELEASE}") is None
    two = probe.image_mismatch(replace(web, image_tags=("b:1", "docker.io/a")), RELEASE)
    assert two is not None and two.endswith(f"[a:latest, b:1], not {RELEASE}")
    none = probe.image_mismatch(replace(web, image_tags=()), RELEASE)
    assert none is not None and none.endswith(f"[no tag or digest], not {RELEASE}")
    assert probe._normal("docker.io/library/busybox") == "busybox:latest"
    assert probe._normal("index.docker.io/library/busybox:1") == "busybox:1"
    assert probe._normal("registry:5000/app") == "registry:5000/app:latest"
    assert probe._normal("app@sha256:ab") == "app@sha256:ab"


def test_probe_lists_the_services_named_and_found(stored) -> None:
    cfg = Containers(project="shop", max_restarts=2, services={"missing": {}, "loop": {"max_restarts": 1}})
    web, loop = stored["shop-web-1"], stored["shop-loop-1"]
    found = probe.ProjectContainers("shop", _at(120, 0), {"web": [web], "loop": [loop]})
    assert probe.service_names(cfg, found) == ["loop", "missing", "web"]
    assert probe.service_names(cfg, None) == ["loop", "missing"]
    named = probe.service(cfg, found, "web")
    assert (named.containers, named.running, named.settings.max_restarts) == ([web], [web], 2)
    assert probe.service(cfg, found, "loop").running == []
    assert probe.service(cfg, found, "missing").containers == []


def test_probe_cuts_what_it_shows_at_its_limit() -> None:
    assert probe.shown("x" * 200) == "x" * 200
    assert probe.shown("x" * 201) == "x" * 197 + "..."
    assert probe.shown("a\tb\n c") == "a b c"
    assert probe.shown("abcd", 4) == "abcd" and probe.shown("abcde", 4) == "a..."


def test_probe_reads_the_project_from_the_engine(docker_engine, monkeypatch) -> None:
    """The project's containers by compose service, running or not, read from the engine itself
    (found by containers.engine, or by DOCKER_HOST without it): not another project's, not a
    one-off `compose run`, not a container without a service label."""
    client = docker_engine.client()
    project, service, oneoff = (
        f"com.docker.compose.{k}" for k in ("project", "service", "oneoff")
    )  # compose's
    labels = {project: "probe"}

    def run(name: str, extra: dict, *command: str) -> None:
        client.containers.run(
            RELEASE, list(command or ("sleep", "1000")), detach=True, network_mode="none", name=name,
            labels={**labels, **extra}, mem_limit="64m",
        )  # fmt: skip

    try:
        docker_engine.import_busybox(client, RELEASE, "2")
        run("probe-web-1", {service: "web"})
        run("probe-job-1", {service: "job"}, "sh", "-c", "exit 3")
        run("probe-web-run-1", {service: "web", oneoff: "True"})
        run("probe-unlabelled-1", {})
        run("elsewhere-web-1", {project: "elsewhere", service: "web"})  # the stack's names are in use
        job = client.containers.get("probe-job-1")
        _wait("job exited", lambda: job.reload() or job.status == "exited", lambda: _reported(job, 0))
        before = datetime.now(UTC)
        found = probe.read_project(Containers(engine=docker_engine.url, project="probe"), 5)
        assert before <= found.read_at <= datetime.now(UTC)  # the moment start-up times are judged at
        assert (found.project, sorted(found.services)) == ("probe", ["job", "web"])
        (web,), (job,) = found.services["web"], found.services["job"]
        assert (web.name, web.service, web.status, web.image_ref) == (
            "probe-web-1",
            "web",
            "running",
            RELEASE,
        )
        assert web.image_tags == (RELEASE,) and web.image_id == client.images.get(RELEASE).id
        assert web.memory_limit == 64 * 2**20 and 0 < web.memory_used < 64 * 2**20
        assert (job.name, job.status, job.exit_code, job.memory_used) == ("probe-job-1", "exited", 3, None)
        monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
        by_env = probe.read_project(Containers(project="probe"), 5)
        assert {name: [c.name for c in found] for name, found in by_env.services.items()} == {
            "web": ["probe-web-1"], "job": ["probe-job-1"],
        }  # fmt: skip
    finally:
        for container in client.containers.list(all=True):
            if container.labels.get(project) in ("probe", "elsewhere"):
                container.remove(force=True, v=True)
        client.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_probe_names_an_engine_that_does_not_answer(tmp_path, monkeypatch) -> None:
    """The engine named, or DOCKER_HOST's, and what to check. (The Docker SDK leaves the socket of
    its failed connect to the garbage collector: collected here, where its warning is expected.)"""
    engine = f"unix://{tmp_path}/none.sock"
    said = {}
    for at, cfg in (
        (engine, Containers(engine=engine, project="probe")),
        (None, Containers(project="probe")),
    ):
        monkeypatch.setenv("DOCKER_HOST", engine)
        with pytest.raises(TargetUnreachable) as caught:
            probe.read_project(cfg, 2)
        said[at or "DOCKER_HOST or the local socket"] = str(caught.value)
    del caught  # its traceback holds the SDK's socket
    gc.collect()
    for at, message in said.items():
        assert message.startswith(f"the Docker engine at {at} did not answer: "), message
        assert message.endswith(
            "; check containers.engine (or DOCKER_HOST) and that deploycheck may read the engine's API"
        )


# -- the checks on the engine's own JSON ----------------------------------------------
# The check module run in process (pytester) on the stored containers: the engine's read is the
# captured one (`read_project` answers with what the test engine answered), so a run takes a
# second, not the stack's minute: fast enough to run once per mutant (docs/mutation.md).

READ_AT = _at(120, 0)  # the stored read's moment: after every stored probe


@pytest.fixture()
def stored_run(stored, run_checks, tmp_path, monkeypatch) -> Callable[..., CheckRun]:
    """Run the container checks on the stored containers (or those given), profile `services`."""

    def run(
        services: dict | None = None,
        found: dict[str, list[probe.Container]] | None = None,
        *args: str,
        **section: object,
    ) -> CheckRun:
        if found is None:
            found = {}
            for container in stored.values():
                if container.name != "shop-web-run-1":  # a one-off `compose run`: never read
                    found.setdefault(container.service, []).append(container)
        read = []

        def read_project(cfg: Containers, timeout_s: float) -> probe.ProjectContainers:
            read.append((cfg.project, cfg.engine))
            return probe.ProjectContainers(cfg.project, READ_AT, found)

        monkeypatch.setattr(probe, "read_project", read_project)
        profile = _profile(tmp_path, "unix:///stored.sock", services=services or {}, **section)
        done = run_checks(profile, "-k", "test_containers", *args)
        assert read and set(read) == {("shop", "unix:///stored.sock")}
        return done

    return run


def test_stored_run_judges_as_the_stack_run_does(stored_run) -> None:
    """The stack tests' judgments, on the stored containers: a second, not the stack's minute."""
    run = stored_run(PROFILE_SERVICES)
    web = {c["id"].split("::")[1]: c["outcome"] for c in run.report["checks"] if c["id"].endswith("[web]")}
    assert set(web.values()) == {"passed"} and len(web) == 8
    assert run.exit_code == 1 and {c["area"] for c in run.report["checks"]} == {"containers"}
    services = {c["id"].split("[", 1)[1][:-1] for c in run.report["checks"]}
    assert services == {*SERVICES, "missing", "cached"} - {EVIL} | {"evil [2J service"}
    gone, missing = (
        _check(run, "test_service_is_running", "gone"),
        _check(run, "test_service_is_running", "missing"),
    )
    assert gone["outcome"] == "failed" and "container shop-gone-1 is exited (exit code 2)" in gone["message"]
    assert missing["outcome"] == "failed" and "service 'missing' has no container" in missing["message"]
    sick = _check(run, "test_service_is_healthy", "sick")
    assert sick["outcome"] == "failed" and "shop-sick-1 is unhealthy" in sick["message"]
    assert "hook ********" in sick["message"] and SECRET not in json.dumps(run.report)
    for check, words in (
        ("test_service_has_a_health_check", "service 'bare' has no HEALTHCHECK"),
        ("test_service_has_a_memory_limit", "service 'bare' has no memory limit"),
    ):
        bare = _check(run, check, "bare")
        assert bare["outcome"] == "warned" and bare["severity"] == "warning" and words in bare["message"]
    assert _check(run, "test_service_is_healthy", "bare")["outcome"] == "skipped"
    loop = _check(run, "test_service_does_not_restart", "loop")
    assert loop["outcome"] == "failed" and "container shop-loop-1 restarted" in loop["message"]
    oom = _check(run, "test_service_does_not_restart", "oom")
    assert oom["message"] == "container shop-oom-1 was killed for lack of memory (OOM)"
    full = _check(run, "test_service_memory_is_within_limit", "full")
    assert full["outcome"] == "failed" and "of its 16 MiB limit" in full["message"]
    assert "(max_memory_pct 80)" in full["message"]
    late = _check(run, "test_service_started_in_time", "late")
    assert late["outcome"] == "failed" and "container shop-late-1 took" in late["message"]
    assert "(healthy_within_s 4)" in late["message"] and late["details"]["startup_s"]["shop-late-1"] > 4
    assert 0 < _check(run, "test_service_started_in_time", "web")["details"]["startup_s"]["shop-web-1"] < 60
    old = _check(run, "test_service_runs_the_release", "old")
    assert (
        old["outcome"] == "failed"
        and f"runs {OLD} (" in old["message"]
        and f"not {RELEASE}" in old["message"]
    )


def test_stored_start_up_without_healthy_within_s_is_recorded_not_judged(stored_run) -> None:
    _recorded_not_judged(stored_run({**PROFILE_SERVICES, "web": {"image": RELEASE}}))


def test_stored_a_hostile_service_label_is_shown_printable_everywhere(stored_run) -> None:
    """The engine's labels are hostile: no check shows one raw, in the report or in the terminal
    (a skip's reason included, as `-rs` prints it)."""
    run = stored_run(PROFILE_SERVICES, None, "-rs")
    evil = [c for c in run.report["checks"] if c["id"].endswith("[evil [2J service]")]
    assert len(evil) == 8
    for check in run.report["checks"]:
        assert check["message"].isprintable(), check
    assert "\x1b" not in run.output and "evil [2J service.image not configured" in run.output
    assert _check(run, "test_service_runs_the_release", "evil [2J service")["message"] == (
        "containers.services.evil [2J service.image not configured"
    )


def _outcomes(run: CheckRun, service: str) -> dict[str, tuple[str, str, str]]:
    """Each check of `service`: outcome, severity, message."""
    return {
        c["id"].split("::")[1].split("[")[0]: (c["outcome"], c["severity"], c["message"])
        for c in run.report["checks"]
        if c["id"].endswith(f"[{service}]")
    }


def test_stored_passed_checks_say_what_they_saw(stored_run) -> None:
    run = stored_run(PROFILE_SERVICES)
    assert _outcomes(run, "web") == {
        "test_service_is_running": ("passed", "blocker", "shop-web-1: running"),
        "test_service_has_a_health_check": ("passed", "warning", "HEALTHCHECK set on shop-web-1: yes"),
        "test_service_is_healthy": ("passed", "blocker", "health: shop-web-1: healthy"),
        "test_service_does_not_restart": ("passed", "blocker", "restarts: shop-web-1: 0 (max_restarts 0)"),
        "test_service_has_a_memory_limit": ("passed", "warning", "memory limit set on shop-web-1: yes"),
        "test_service_memory_is_within_limit": (
            "passed", "blocker", "memory in use: shop-web-1: 1% of its limit (max_memory_pct 90)",
        ),
        "test_service_started_in_time": (
            "passed", "blocker", "start to first healthy probe: shop-web-1: 1.1 s (healthy_within_s 60)",
        ),
        "test_service_runs_the_release": (
            "passed", "blocker",
            f"running shop-web-1: {RELEASE} (6247d6d0d1a6); the profile names {RELEASE}",
        ),
    }  # fmt: skip
    details = {
        c["id"].split("::")[1].split("[")[0]: c["details"]
        for c in run.report["checks"]
        if c["id"].endswith("[web]")
    }
    assert details == {
        "test_service_is_running": {"containers": {"shop-web-1": "running"}},
        "test_service_has_a_health_check": {},
        "test_service_is_healthy": {"health": {"shop-web-1": "healthy"}},
        "test_service_does_not_restart": {"restarts": {"shop-web-1": 0}},
        "test_service_has_a_memory_limit": {},
        "test_service_memory_is_within_limit": {"memory_pct": {"shop-web-1": 0.7}},
        "test_service_started_in_time": {"startup_s": {"shop-web-1": 1.06758}},
        "test_service_runs_the_release": {"images": {"shop-web-1": f"{RELEASE} (6247d6d0d1a6)"}},
    }


def test_stored_failed_checks_name_what_failed_whole(stored_run) -> None:
    run = stored_run(PROFILE_SERVICES)
    assert run.exit_code == 1
    failed = {
        c["id"].split("::")[1]: (c["severity"], c["message"])
        for c in run.report["checks"]
        if c["outcome"] in ("failed", "warned")
    }
    blocker = "blocker"
    assert failed == {
        "test_service_is_running[gone]": (blocker, "service 'gone': container shop-gone-1 is exited (exit code 2)"),
        "test_service_is_running[loop]": (blocker, "service 'loop': container shop-loop-1 is restarting"),
        "test_service_is_running[missing]": (blocker, "service 'missing' has no container"),
        "test_service_is_running[oom]": (
            blocker, "service 'oom': container shop-oom-1 is exited (exit code 137, killed for lack of memory)",
        ),
        **{
            f"test_service_has_a_health_check[{name}]": (
                "warning",
                f"service {label!r} has no HEALTHCHECK (containers shop-{short}-1): the engine cannot tell "
                "whether it serves; add a healthcheck to its compose service",
            )
            for name, label, short in (
                ("bare", "bare", "bare"), ("cached", "cached", "cached"), ("full", "full", "full"),
                ("old", "old", "old"), ("evil [2J service", EVIL, "evilservice"),
            )
        },
        "test_service_is_healthy[sick]": (
            blocker, "container shop-sick-1 is unhealthy; last probe exit code 1: [31mdb connection refused, hook ********",
        ),
        "test_service_does_not_restart[loop]": (blocker, "container shop-loop-1 restarted 7 times (max_restarts 1)"),
        "test_service_does_not_restart[oom]": (blocker, "container shop-oom-1 was killed for lack of memory (OOM)"),
        "test_service_has_a_memory_limit[bare]": (
            "warning",
            "service 'bare' has no memory limit (containers shop-bare-1): set deploy.resources.limits.memory "
            "(or mem_limit) in its compose service",
        ),
        "test_service_memory_is_within_limit[full]": (
            blocker, "container shop-full-1 uses 14.8 MiB, 93% of its 16 MiB limit (max_memory_pct 80)",
        ),
        "test_service_started_in_time[late]": (
            blocker, "container shop-late-1 took 9.2 s to become healthy (healthy_within_s 4)",
        ),
        "test_service_runs_the_release[old]": (
            blocker, f"container shop-old-1 runs {OLD} (6a620a5a138a) [{OLD}], not {RELEASE}",
        ),
    }  # fmt: skip
    details = {c["id"].split("::")[1]: c["details"] for c in run.report["checks"]}
    assert {
        name: details[name] for name in failed if name.startswith(("test_service_is_r", "test_service_is_h"))
    } == {
        "test_service_is_running[gone]": {"containers": {"shop-gone-1": "exited"}},
        "test_service_is_running[loop]": {"containers": {"shop-loop-1": "restarting"}},
        "test_service_is_running[missing]": {"containers": {}},
        "test_service_is_running[oom]": {"containers": {"shop-oom-1": "exited"}},
        "test_service_is_healthy[sick]": {"health": {"shop-sick-1": "unhealthy"}},
    }
    assert (
        details["test_service_does_not_restart[loop]"],
        details["test_service_memory_is_within_limit[full]"],
        details["test_service_started_in_time[late]"],
        details["test_service_runs_the_release[old]"],
    ) == (
        {"restarts": {"shop-loop-1": 7}},
        {"memory_pct": {"shop-full-1": 92.7}},
        {"startup_s": {"shop-late-1": 9.238958}},
        {"images": {"shop-old-1": f"{OLD} (6a620a5a138a)"}},
    )


def test_stored_checks_without_anything_to_judge_skip_saying_why(stored_run) -> None:
    """A check with no running container, no HEALTHCHECK, no limit or no release to compare skips
    naming what it lacks: it never passes on nothing."""
    run = stored_run(PROFILE_SERVICES)
    skipped = {
        c["id"].split("::")[1]: c["message"] for c in run.report["checks"] if c["outcome"] == "skipped"
    }
    checks = (
        "has_a_health_check",
        "is_healthy",
        "has_a_memory_limit",
        "memory_is_within_limit",
        "started_in_time",
    )
    labels = {"bare": "bare", "cached": "cached", "evil [2J service": EVIL, "full": "full", "old": "old"}
    assert skipped == {
        **{
            f"test_service_{check}[{name}]": f"service {name!r} has no running container"
            for name in ("gone", "loop", "missing", "oom")
            for check in checks
        },
        **{
            f"test_service_{check}[{name}]": f"service {label!r} has no HEALTHCHECK"
            for name, label in labels.items()
            for check in ("is_healthy", "started_in_time")
        },
        "test_service_does_not_restart[missing]": "service 'missing' has no container",
        "test_service_memory_is_within_limit[bare]": "service 'bare' has no memory limit or no memory reading",
        "test_service_started_in_time[sick]": "healthy_within_s not configured for service 'sick': start to first "
        "healthy probe: shop-sick-1: unknown (recorded, not judged)",
        **{
            f"test_service_runs_the_release[{name}]": f"containers.services.{name}.image not configured"
            for name in (
                "bare",
                "cached",
                "evil [2J service",
                "full",
                "gone",
                "late",
                "loop",
                "missing",
                "oom",
                "sick",
            )
        },
    }
    assert _check(run, "test_service_started_in_time", "sick")["details"] == {
        "startup_s": {"shop-sick-1": None}
    }


def test_stored_a_start_up_the_log_no_longer_holds_is_unknown_not_passed(stored, stored_run) -> None:
    """Under healthy_within_s: a start-up the engine's log cannot tell skips saying why; one not
    healthy yet fails with the time it has waited."""
    sick = stored["shop-sick-1"]
    starting = replace(sick, name="shop-starting-1", service="starting", health_log=sick.health_log[:3])
    run = stored_run(
        {"sick": {"healthy_within_s": 30}, "starting": {"healthy_within_s": 30}},
        {"sick": [sick], "starting": [starting]},
    )
    unknown = _check(run, "test_service_started_in_time", "sick")
    assert (unknown["outcome"], unknown["message"]) == (
        "skipped",
        "start-up time unknown: shop-sick-1: the engine keeps only the last 5 probes and the first healthy one "
        "since the start is no longer among them",
    )
    assert unknown["details"] == {"startup_s": {"shop-sick-1": None}}
    late = _check(run, "test_service_started_in_time", "starting")
    assert (late["outcome"], late["severity"], late["message"]) == (
        "failed",
        "blocker",
        "container shop-starting-1 is not healthy 68 s after its start (healthy_within_s 30)",
    )
    assert run.exit_code == 1
    waited = stored_run({"starting": {"healthy_within_s": 69}}, {"starting": [starting]})
    assert _check(waited, "test_service_started_in_time", "starting")["message"] == (
        "start-up time unknown: shop-starting-1: no healthy probe yet, 68 s after the start"
    )


def test_stored_limits_are_met_when_equalled(stored, stored_run) -> None:
    """A start-up of exactly healthy_within_s and memory of exactly max_memory_pct pass."""
    run = stored_run(
        {"web": {"healthy_within_s": 1.06758}, "full": {"max_memory_pct": 100 * 15560704 / 16777216}},
        {"web": [stored["shop-web-1"]], "full": [stored["shop-full-1"]]},
    )
    assert _check(run, "test_service_started_in_time", "web")["outcome"] == "passed"
    full = _check(run, "test_service_memory_is_within_limit", "full")
    assert (full["outcome"], full["message"]) == (
        "passed",
        "memory in use: shop-full-1: 93% of its limit (max_memory_pct 92.749)",
    )
    assert run.exit_code == 0


def test_stored_services_of_several_containers_name_each(stored, stored_run) -> None:
    def two(name: str) -> list[probe.Container]:
        first = stored[f"shop-{name}-1"]
        return [first, replace(first, name=f"shop-{name}-2")]

    web, bare, gone = stored["shop-web-1"], stored["shop-bare-1"], stored["shop-gone-1"]
    found = {name: two(name) for name in ("web", "bare", "sick", "loop", "full", "late", "old")}
    found |= {"mixed": [web, replace(bare, service="mixed")], "half": [web, replace(gone, service="half")]}
    services = {**PROFILE_SERVICES, "half": {"image": RELEASE}, "mixed": {"healthy_within_s": 60}}
    del services["missing"]
    run = stored_run(services, found)
    web_release = f"{RELEASE} (6247d6d0d1a6)"
    assert {k: v[2] for k, v in _outcomes(run, "web").items()} == {
        "test_service_is_running": "shop-web-1: running, shop-web-2: running",
        "test_service_has_a_health_check": "HEALTHCHECK set on shop-web-1: yes, shop-web-2: yes",
        "test_service_is_healthy": "health: shop-web-1: healthy, shop-web-2: healthy",
        "test_service_does_not_restart": "restarts: shop-web-1: 0, shop-web-2: 0 (max_restarts 0)",
        "test_service_has_a_memory_limit": "memory limit set on shop-web-1: yes, shop-web-2: yes",
        "test_service_memory_is_within_limit": "memory in use: shop-web-1: 1% of its limit, shop-web-2: 1% of its "
        "limit (max_memory_pct 90)",
        "test_service_started_in_time": "start to first healthy probe: shop-web-1: 1.1 s, shop-web-2: 1.1 s "
        "(healthy_within_s 60)",
        "test_service_runs_the_release": f"running shop-web-1: {web_release}, shop-web-2: {web_release}; "
        f"the profile names {RELEASE}",
    }
    assert _check(run, "test_service_has_a_health_check", "bare")["message"] == (
        "service 'bare' has no HEALTHCHECK (containers shop-bare-1, shop-bare-2): the engine cannot tell whether "
        "it serves; add a healthcheck to its compose service"
    )
    assert _check(run, "test_service_has_a_memory_limit", "bare")["message"].startswith(
        "service 'bare' has no memory limit (containers shop-bare-1, shop-bare-2): "
    )
    sick = "is unhealthy; last probe exit code 1: [31mdb connection refused, hook ********"
    assert _check(run, "test_service_is_healthy", "sick")["message"] == (
        f"container shop-sick-1 {sick}; container shop-sick-2 {sick}"
    )
    assert _check(run, "test_service_does_not_restart", "loop")["message"] == (
        "container shop-loop-1 restarted 7 times (max_restarts 1); "
        "container shop-loop-2 restarted 7 times (max_restarts 1)"
    )
    assert _check(run, "test_service_memory_is_within_limit", "full")["message"] == (
        "container shop-full-1 uses 14.8 MiB, 93% of its 16 MiB limit; "
        "container shop-full-2 uses 14.8 MiB, 93% of its 16 MiB limit (max_memory_pct 80)"
    )
    assert _check(run, "test_service_started_in_time", "late")["message"] == (
        "container shop-late-1 took 9.2 s to become healthy; "
        "container shop-late-2 took 9.2 s to become healthy (healthy_within_s 4)"
    )
    old = f"runs {OLD} (6a620a5a138a) [{OLD}], not {RELEASE}"
    assert _check(run, "test_service_runs_the_release", "old")["message"] == (
        f"container shop-old-1 {old}; container shop-old-2 {old}"
    )
    # one container with what the check asks, one without: only the one without is named
    assert {k: v[:1] + v[2:] for k, v in _outcomes(run, "mixed").items()} == {
        "test_service_is_running": ("passed", "shop-web-1: running, shop-bare-1: running"),
        "test_service_has_a_health_check": (
            "warned",
            "service 'mixed' has no HEALTHCHECK (containers shop-bare-1): the engine cannot tell whether it "
            "serves; add a healthcheck to its compose service",
        ),
        "test_service_is_healthy": ("passed", "health: shop-web-1: healthy"),
        "test_service_does_not_restart": (
            "passed",
            "restarts: shop-web-1: 0, shop-bare-1: 0 (max_restarts 0)",
        ),
        "test_service_has_a_memory_limit": (
            "warned",
            "service 'mixed' has no memory limit (containers shop-bare-1): set deploy.resources.limits.memory "
            "(or mem_limit) in its compose service",
        ),
        "test_service_memory_is_within_limit": (
            "passed",
            "memory in use: shop-web-1: 1% of its limit (max_memory_pct 90)",
        ),
        "test_service_started_in_time": (
            "passed",
            "start to first healthy probe: shop-web-1: 1.1 s (healthy_within_s 60)",
        ),
        "test_service_runs_the_release": ("skipped", "containers.services.mixed.image not configured"),
    }
    # one running, one exited: the exited one fails the service; the others judge the running one
    assert {k: v[:1] + v[2:] for k, v in _outcomes(run, "half").items()} == {
        "test_service_is_running": (
            "failed",
            "service 'half': container shop-gone-1 is exited (exit code 2)",
        ),
        "test_service_has_a_health_check": ("passed", "HEALTHCHECK set on shop-web-1: yes"),
        "test_service_is_healthy": ("passed", "health: shop-web-1: healthy"),
        "test_service_does_not_restart": (
            "passed",
            "restarts: shop-web-1: 0, shop-gone-1: 0 (max_restarts 0)",
        ),
        "test_service_has_a_memory_limit": ("passed", "memory limit set on shop-web-1: yes"),
        "test_service_memory_is_within_limit": (
            "passed",
            "memory in use: shop-web-1: 1% of its limit (max_memory_pct 90)",
        ),
        "test_service_started_in_time": (
            "skipped",
            "healthy_within_s not configured for service 'half': start to first healthy probe: shop-web-1: "
            "1.1 s (recorded, not judged)",
        ),
        "test_service_runs_the_release": (
            "passed",
            f"running shop-web-1: {web_release}; the profile names {RELEASE}",
        ),
    }


def test_stored_long_container_names_are_cut_in_every_message(stored, stored_run) -> None:
    """A container name is the engine's: every message shows it cut to 80 characters (the details
    keep it whole), as the same run with short names shows them."""
    short = stored_run(PROFILE_SERVICES)
    found, cut = {}, {}
    for container in stored.values():
        if container.name != "shop-web-run-1":
            long = replace(container, name=f"{container.name}-{'x' * 90}")
            found.setdefault(container.service, []).append(long)
            cut[container.name] = long.name[:77] + "..."
    run = stored_run(PROFILE_SERVICES, found)
    said = {c["id"]: (c["outcome"], c["message"]) for c in short.report["checks"]}
    for check in run.report["checks"]:
        outcome, message = said[check["id"]]
        for name in sorted(cut, key=len, reverse=True):
            message = re.sub(rf"\b{re.escape(name)}\b", cut[name], message)
        assert (check["outcome"], check["message"]) == (outcome, message)
    assert set(_check(run, "test_service_is_running", "web")["details"]["containers"]) == {
        f"shop-web-1-{'x' * 90}"
    }


def test_stored_start_ups_not_judged_name_each_container_cut(stored, stored_run) -> None:
    sick = stored["shop-sick-1"]
    long_sick, long_starting = (f"shop-{name}-1-{'x' * 90}" for name in ("sick", "starting"))
    starting = replace(sick, name=long_starting, service="starting", health_log=sick.health_log[:3])
    run = stored_run(
        {"sick": {"healthy_within_s": 30}, "starting": {"healthy_within_s": 30}},
        {"sick": [sick, replace(sick, name=long_sick)], "starting": [starting]},
    )
    why = "the engine keeps only the last 5 probes and the first healthy one since the start is no longer among them"
    assert _check(run, "test_service_started_in_time", "sick")["message"] == (
        f"start-up time unknown: shop-sick-1: {why}; {long_sick[:77]}...: {why}"
    )
    assert _check(run, "test_service_started_in_time", "starting")["message"] == (
        f"container {long_starting[:77]}... is not healthy 68 s after its start (healthy_within_s 30)"
    )
