"""The compose project's containers: each service running, healthy, not restarting, within its
memory, started in time, on the release the profile names. One check per service."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runner.probes import containers as probe


def _running(compose_service: probe.Service) -> list[probe.Container]:
    """The service's running containers; none: skip (test_service_is_running fails it)."""
    if not compose_service.running:
        pytest.skip(f"service {compose_service.name!r} has no running container")
    return compose_service.running


def _with_health_check(compose_service: probe.Service) -> list[probe.Container]:
    checked = [c for c in _running(compose_service) if c.health is not None]
    if not checked:
        pytest.skip(f"service {compose_service.name!r} has no HEALTHCHECK")
    return checked


def test_service_is_running(compose_service, record_detail, evidence) -> None:
    """Every service of the project has a container, and every one of them is running."""
    record_detail("containers", {c.name: c.status for c in compose_service.containers})
    evidence(_listed(compose_service.containers, lambda c: c.status))
    problem = probe.not_running(compose_service.name, compose_service.containers)
    assert problem is None, problem


def _listed(containers: list[probe.Container], fact: Callable[[probe.Container], object]) -> str:
    """One fact per container, named: what a passed check measured."""
    return ", ".join(f"{probe.shown(c.name, 80)}: {fact(c)}" for c in containers) or "no container"


def _lacking(
    compose_service: probe.Service,
    what: str,
    lacks: Callable[[probe.Container], bool],
    fix: str,
) -> str:
    """Fails naming the running containers that lack it; else says which have it."""
    bare = [probe.shown(c.name, 80) for c in _running(compose_service) if lacks(c)]
    assert not bare, f"service {compose_service.name!r} has no {what} (containers {', '.join(bare)}): {fix}"
    return f"{what} set on {_listed(_running(compose_service), lambda c: 'yes')}"


@pytest.mark.severity("warning")
def test_service_has_a_health_check(compose_service, evidence) -> None:
    """The service's image or compose file defines a HEALTHCHECK, so the engine can tell it serves."""
    evidence(
        _lacking(
            compose_service,
            "HEALTHCHECK",
            lambda c: c.health is None,
            "the engine cannot tell whether it serves; add a healthcheck to its compose service",
        )
    )


def test_service_is_healthy(compose_service, record_detail, evidence) -> None:
    """The service's health check says healthy (unhealthy: the last probe's output)."""
    checked = _with_health_check(compose_service)
    record_detail("health", {c.name: c.health for c in checked})
    evidence(f"health: {_listed(checked, lambda c: c.health)}")
    problems = [p for p in map(probe.unhealthy, checked) if p]
    assert not problems, "; ".join(problems)


def test_service_does_not_restart(compose_service, record_detail, evidence) -> None:
    """No container restarted more than max_restarts times since it was created, none was OOM-killed."""
    if not compose_service.containers:
        pytest.skip(f"service {compose_service.name!r} has no container")
    record_detail("restarts", {c.name: c.restart_count for c in compose_service.containers})
    evidence(
        f"restarts: {_listed(compose_service.containers, lambda c: c.restart_count)} "
        f"(max_restarts {compose_service.settings.max_restarts})"
    )
    problems = [p for c in compose_service.containers if (p := probe.restarts(c, compose_service.settings))]
    assert not problems, "; ".join(problems)


@pytest.mark.severity("warning")
def test_service_has_a_memory_limit(compose_service, evidence) -> None:
    """Each container has a memory limit: without one, a leak takes the whole host's memory."""
    evidence(
        _lacking(
            compose_service,
            "memory limit",
            lambda c: c.memory_limit is None,
            "set deploy.resources.limits.memory (or mem_limit) in its compose service",
        )
    )


def test_service_memory_is_within_limit(compose_service, record_detail, evidence) -> None:
    """Memory in use stays within max_memory_pct of each container's limit."""
    limited = [(c, pct) for c in _running(compose_service) if (pct := probe.memory_pct(c)) is not None]
    if not limited:
        pytest.skip(f"service {compose_service.name!r} has no memory limit or no memory reading")
    record_detail("memory_pct", {c.name: round(pct, 1) for c, pct in limited})
    most = compose_service.settings.max_memory_pct
    evidence(
        "memory in use: "
        + ", ".join(f"{probe.shown(c.name, 80)}: {pct:.0f}% of its limit" for c, pct in limited)
        + f" (max_memory_pct {most:g})"
    )
    over = [
        f"container {probe.shown(c.name, 80)} uses {c.memory_used / 2**20:.1f} MiB, {pct:.0f}% of its "
        f"{c.memory_limit / 2**20:.0f} MiB limit"
        for c, pct in limited
        if pct > most  # type: ignore[operator]
    ]
    assert not over, f"{'; '.join(over)} (max_memory_pct {most:g})"


def test_service_started_in_time(compose_service, containers, record_detail, evidence) -> None:
    """Start to first healthy probe within healthy_within_s (the start-up time, recorded)."""
    limit = compose_service.settings.healthy_within_s
    times = {c.name: probe.startup(c, containers.read_at) for c in _with_health_check(compose_service)}
    record_detail("startup_s", {name: t.seconds for name, t in times.items()})
    measured = "start to first healthy probe: " + ", ".join(
        f"{probe.shown(name, 80)}: " + (f"{t.seconds:.1f} s" if t.seconds is not None else "unknown")
        for name, t in times.items()
    )
    evidence(f"{measured} (healthy_within_s {limit:g})" if limit is not None else measured)
    if limit is None:
        pytest.skip(
            f"healthy_within_s not configured for service {compose_service.name!r}: {measured} (recorded, not judged)"
        )
    slow = [
        f"container {probe.shown(name, 80)} took {t.seconds:.1f} s to become healthy"
        if t.seconds is not None
        else f"container {probe.shown(name, 80)} is not healthy {t.waited:.0f} s after its start"
        for name, t in times.items()
        if (t.seconds or t.waited) > limit
    ]
    assert not slow, f"{'; '.join(slow)} (healthy_within_s {limit:g})"
    unknown = [f"{probe.shown(name, 80)}: {t.why}" for name, t in times.items() if t.seconds is None]
    if unknown:
        pytest.skip("start-up time unknown: " + "; ".join(unknown))


def test_service_runs_the_release(compose_service, record_detail, evidence) -> None:
    """The image running is the release the profile names (tag, or digest for @sha256:)."""
    expected = compose_service.settings.image
    if expected is None:
        pytest.skip(f"containers.services.{probe.shown(compose_service.name, 80)}.image not configured")
    running = _running(compose_service)
    record_detail("images", {c.name: c.image_shown for c in running})
    evidence(f"running {_listed(running, lambda c: c.image_shown)}; the profile names {expected}")
    problems = [p for c in running if (p := probe.image_mismatch(c, expected))]
    assert not problems, "; ".join(problems)
