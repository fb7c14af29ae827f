"""The application's health endpoints and the external services it depends on answer as expected."""

from __future__ import annotations

from runner.probes.http import json_problems


def test_endpoint_answers(http_check, http_result, record_detail, evidence) -> None:
    """The URL answers with the expected status and JSON fields, within max_ms."""
    record_detail("elapsed_ms", http_result.elapsed_ms)
    assert http_result.answered, f"{http_check.url}: {http_result.error_kind}: {http_result.error}"
    problems = []
    if http_result.status != http_check.status:
        problems.append(f"status {http_result.status}, expected {http_check.status}")
    if http_check.json_:
        problems += json_problems(http_check.json_, http_result.body)
    if http_check.max_ms is not None and http_result.elapsed_ms > http_check.max_ms:
        problems.append(f"answered in {http_result.elapsed_ms:.0f} ms, more than max_ms {http_check.max_ms}")
    expected = f"status {http_check.status}" + (
        f", JSON fields {', '.join(http_check.json_)}" if http_check.json_ else ""
    )
    limit = f" (max_ms {http_check.max_ms})" if http_check.max_ms is not None else ""
    evidence(
        f"answered status {http_result.status} in {http_result.elapsed_ms:.0f} ms{limit}; expected {expected}"
    )
    assert not problems, "; ".join(problems)
