"""A compose project's containers as the Docker engine reports them, and what they tell about
the deploy: running, healthy, restarting, memory, start-up time, the release that runs.

Read through the Docker SDK with GET calls only (list, inspect, one-shot stats, image inspect),
so a read-only socket proxy is enough. Everything the engine says (names, health probe output)
is treated as hostile: shown only printable and truncated, never as markup or escapes.
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner.errors import TargetUnreachable
from runner.profile.model import Containers, ContainerService
from runner.redact import printable

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
HEALTH_LOG_ENTRIES = 5  # the engine keeps only the newest five health probes of a container
_SHOWN = 200


def shown(text: str, limit: int = _SHOWN) -> str:
    """`text` on one line, without control, format (bidi) or separator characters, cut to `limit`."""
    flat = " ".join(printable(text, " ").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _time(value: str | None) -> datetime | None:
    """The engine's RFC 3339 time (Python 3.11 reads its nanoseconds, to microseconds); its zero
    time is None."""
    if not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # not a time: as if the engine had none
        return None


@dataclass(frozen=True)
class HealthProbe:
    start: datetime
    end: datetime | None
    exit_code: int
    output: str


@dataclass(frozen=True)
class Container:
    """One container of a compose service, as inspected."""

    name: str
    service: str
    status: str  # created, running, restarting, paused, exited, dead
    exit_code: int
    restart_count: int
    oom_killed: bool
    started_at: datetime | None
    health: str | None  # starting, healthy, unhealthy; None: the image has no HEALTHCHECK
    health_log: tuple[HealthProbe, ...]
    image_ref: str  # what the container was created from (compose's `image:`)
    image_id: str
    image_tags: tuple[str, ...]
    image_digests: tuple[str, ...]
    memory_used: int | None = None  # bytes, page cache left out as `docker stats` does
    memory_limit: int | None = None  # None: no limit set

    @property
    def is_running(self) -> bool:
        return self.status == "running"

    @property
    def image_shown(self) -> str:
        return f"{shown(self.image_ref, 120)} ({self.image_id.removeprefix('sha256:')[:12]})"


@dataclass(frozen=True)
class ProjectContainers:
    """Every container of one compose project, by compose service, read at one moment."""

    project: str
    read_at: datetime
    services: dict[str, list[Container]] = field(default_factory=dict)


def read_project(cfg: Containers, timeout_s: float) -> ProjectContainers:
    """Inspect every container of `cfg.project` (one-off `compose run` containers left out)."""
    import docker  # only profiles with containers pay for the SDK and requests
    import requests

    engine = f"the Docker engine at {cfg.engine or 'DOCKER_HOST or the local socket'}"
    try:
        if cfg.engine is None:
            ssh = os.environ.get("DOCKER_HOST", "").startswith("ssh://")
            client = docker.from_env(timeout=int(max(timeout_s, 1)), use_ssh_client=ssh)
        else:
            client = docker.DockerClient(
                base_url=cfg.engine,
                timeout=int(max(timeout_s, 1)),
                use_ssh_client=cfg.engine.startswith("ssh://"),  # the ssh binary, not paramiko
            )
        with closing(client):
            return _read(client.api, cfg)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise TargetUnreachable(f"{engine} did not answer: {shown(str(exc))}; {_WHAT_TO_DO}") from None


_WHAT_TO_DO = "check containers.engine (or DOCKER_HOST) and that deploycheck may read the engine's API"


def _read(api: Any, cfg: Containers) -> ProjectContainers:
    from docker.errors import NotFound

    read_at = datetime.now(UTC)
    listed = api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={cfg.project}"})
    images: dict[str, dict[str, Any]] = {}
    services: dict[str, list[Container]] = {}
    for entry in listed:
        labels = entry.get("Labels") or {}
        if labels.get(ONEOFF_LABEL, "False") == "True" or SERVICE_LABEL not in labels:
            continue
        try:
            attrs = api.inspect_container(entry["Id"])
        except NotFound:  # removed since it was listed: as if never listed
            continue
        image_id = attrs.get("Image", "")
        if image_id not in images:
            images[image_id] = api.inspect_image(image_id) if image_id else {}
        used = _memory(api.stats(entry["Id"], stream=False, one_shot=True)) if _running(attrs) else None
        container = _container(attrs, labels[SERVICE_LABEL], images[image_id], used)
        services.setdefault(container.service, []).append(container)
    return ProjectContainers(cfg.project, read_at, services)


def _running(attrs: dict[str, Any]) -> bool:
    return (attrs.get("State") or {}).get("Status") == "running"


def _memory(stats: dict[str, Any]) -> int | None:
    """Usage less the inactive page cache, as `docker stats` counts it (cgroup v1 and v2)."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    detail = memory.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return max(usage - cache, 0)


def _probe(entry: dict[str, Any]) -> HealthProbe:
    start = _time(entry.get("Start"))
    assert start is not None
    return HealthProbe(
        start, _time(entry.get("End")), int(entry.get("ExitCode") or 0), str(entry.get("Output") or "")
    )


def _container(attrs: dict[str, Any], service: str, image: dict[str, Any], used: int | None) -> Container:
    state = attrs.get("State") or {}
    health = state.get("Health")
    return Container(
        name=attrs.get("Name", "").lstrip("/"),
        service=service,
        status=state.get("Status", "unknown"),
        exit_code=int(state.get("ExitCode") or 0),
        restart_count=int(attrs.get("RestartCount") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        started_at=_time(state.get("StartedAt")),
        health=health.get("Status") if health else None,
        health_log=tuple(_probe(p) for p in (health or {}).get("Log") or [] if _time(p.get("Start"))),
        image_ref=(attrs.get("Config") or {}).get("Image", ""),
        image_id=attrs.get("Image", ""),
        image_tags=tuple(image.get("RepoTags") or ()),
        image_digests=tuple(image.get("RepoDigests") or ()),
        memory_used=used,
        memory_limit=(attrs.get("HostConfig") or {}).get("Memory") or None,  # 0: no limit
    )


# -- what the checks ask ----------------------------------------------------------


def not_running(service: str, containers: list[Container]) -> str | None:
    """Why `service` has no running container, naming each one that is not running."""
    if not containers:
        return f"service {service!r} has no container"
    stopped = [c for c in containers if not c.is_running]
    if not stopped:
        return None
    return f"service {service!r}: " + "; ".join(
        f"container {shown(c.name, 80)} is {c.status}"
        + (f" (exit code {c.exit_code}{_OOM if c.oom_killed else ''})" if c.status == "exited" else "")
        for c in stopped
    )


_OOM = ", killed for lack of memory"


def unhealthy(container: Container) -> str | None:
    """Why the container's health check does not say healthy, with its last probe's output."""
    if container.health in (None, "healthy"):
        return None
    last = container.health_log[-1] if container.health_log else None
    said = f"; last probe exit code {last.exit_code}: {shown(last.output) or '(no output)'}" if last else ""
    return f"container {shown(container.name, 80)} is {container.health}{said}"


def restarts(container: Container, service: ContainerService) -> str | None:
    problems = []
    if container.restart_count > (service.max_restarts or 0):
        problems.append(f"restarted {container.restart_count} times (max_restarts {service.max_restarts})")
    if container.oom_killed:
        problems.append("was killed for lack of memory (OOM)")
    return f"container {shown(container.name, 80)} " + " and ".join(problems) if problems else None


def memory_pct(container: Container) -> float | None:
    if container.memory_used is None or not container.memory_limit:
        return None
    return 100.0 * container.memory_used / container.memory_limit


@dataclass(frozen=True)
class Startup:
    """Seconds from the container's start to its first healthy probe; None with `why` when unknown."""

    seconds: float | None
    why: str = ""
    waited: float = 0.0  # not healthy yet: how long it has been starting


def startup(container: Container, now: datetime) -> Startup:
    """The start-up time, from the health log when it still holds every probe since the start."""
    if container.started_at is None:
        return Startup(None, "the engine has no start time")
    log = container.health_log
    since = [p for p in log if p.start >= container.started_at]
    complete = len(log) < HEALTH_LOG_ENTRIES or len(since) < len(log)
    first = next((p for p in since if p.exit_code == 0 and p.end is not None), None)
    if complete and first is not None:
        return Startup((first.end - container.started_at).total_seconds())  # type: ignore[operator]
    if complete:
        waited = (now - container.started_at).total_seconds()
        return Startup(None, f"no healthy probe yet, {waited:.0f} s after the start", waited)
    return Startup(
        None,
        f"the engine keeps only the last {HEALTH_LOG_ENTRIES} probes and the first healthy one "
        "since the start is no longer among them",
    )


def _normal(reference: str) -> str:
    """A reference as the engine lists it: `docker.io/library/x` is `x`, no tag means `latest`."""
    ref = reference.removeprefix("docker.io/").removeprefix("index.docker.io/").removeprefix("library/")
    if "@" not in ref and ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def image_mismatch(container: Container, expected: str) -> str | None:
    """Whether the running image is the release named (tag, or digest for `@sha256:`)."""
    want = _normal(expected)
    names = {_normal(n) for n in (*container.image_tags, *container.image_digests)}
    if want in names:
        return None
    known = ", ".join(sorted(shown(n, 120) for n in names)) or "no tag or digest"
    return (
        f"container {shown(container.name, 80)} runs {container.image_shown} [{known}], "
        f"not {shown(expected, 120)}"
    )


@dataclass(frozen=True)
class Service:
    """One compose service: its settings (defaults filled in) and its containers."""

    name: str
    settings: ContainerService
    containers: list[Container]

    @property
    def running(self) -> list[Container]:
        return [c for c in self.containers if c.is_running]


def service_names(cfg: Containers, found: ProjectContainers | None) -> list[str]:
    """The services the profile names and those the engine has containers of."""
    return sorted(set(cfg.services) | set(found.services if found else ()))


def service(cfg: Containers, found: ProjectContainers, name: str) -> Service:
    return Service(name, cfg.service(name), found.services.get(name, []))
