"""The target's environment: where to read it, and what makes a variable unfit for production."""

from __future__ import annotations

import email.utils
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from runner.errors import TargetUnreachable, UsageError
from runner.profile.model import Env, EnvRule
from runner.redact import is_secret_name

PLACEHOLDER = re.compile(
    r"""^(?:changeme|change[_-]me|replace[_-]?me|dummy|password|secret|todo|tbd|fixme|placeholder
    |x{3,}|test|none|null|undefined|your[_-].*|ci[_-]dummy[_-].*|<[^>]*>|\$\{[^}]*\})$
    |example""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class EnvFinding:
    name: str
    problem: str

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}"


def read_environment(source: str, timeout_s: float) -> dict[str, str]:
    """process, dotenv:PATH, or docker:CONTAINER (through testinfra; DOCKER_HOST=ssh://... for remote)."""
    if source == "process":
        return dict(os.environ)
    if source.startswith("dotenv:"):
        from dotenv import dotenv_values

        path = Path(source[len("dotenv:") :])
        if not path.is_file():
            raise UsageError(f"env.source: {path} is not a file")
        return {k: v or "" for k, v in dotenv_values(path).items()}
    if source.startswith("docker:"):
        return _docker_environment(source[len("docker:") :], timeout_s)
    raise UsageError(f"env.source: {source!r} is not process, dotenv:PATH or docker:CONTAINER")


def _docker_environment(container: str, timeout_s: float) -> dict[str, str]:
    import testinfra

    host = testinfra.get_host(f"docker://{container}")
    result = host.run("timeout %s env -0", str(int(timeout_s)))
    if result.rc != 0:
        raise TargetUnreachable(
            f"cannot read the environment of container {container!r}: {result.stderr.strip()}"
        )
    pairs = (item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return {k: v for k, v in pairs}


def rule_of(item: str | EnvRule) -> EnvRule:
    return item if isinstance(item, EnvRule) else EnvRule(name=item)


def inferred_type(rule: EnvRule) -> str | None:
    """An explicit `type`, or one read from the name: *_PORT, *_URL/*_URI, *_EMAIL."""
    if rule.type:
        return rule.type
    upper = rule.name.upper()
    if upper.endswith("_PORT"):
        return "port"
    if upper.endswith(("_URL", "_URI")):
        return "url"
    if upper.endswith("_EMAIL"):
        return "email"
    return None


def missing(env: dict[str, str], cfg: Env) -> list[EnvFinding]:
    out = []
    for rule in map(rule_of, cfg.required):
        if rule.name not in env:
            out.append(EnvFinding(rule.name, "is not set"))
        elif not env[rule.name].strip():
            out.append(EnvFinding(rule.name, "is empty"))
    return out


def present(env: dict[str, str], cfg: Env) -> list[EnvRule]:
    """The required variables that hold a value: all that placeholders and types can judge."""
    return [rule for rule in map(rule_of, cfg.required) if env.get(rule.name, "").strip()]


def placeholders(env: dict[str, str], cfg: Env) -> list[EnvFinding]:
    return [
        EnvFinding(rule.name, "holds a placeholder value, not a production one")
        for rule in present(env, cfg)
        if PLACEHOLDER.search(env[rule.name].strip())
    ]


def type_errors(env: dict[str, str], cfg: Env) -> list[EnvFinding]:
    return [
        EnvFinding(rule.name, f"is not a valid {kind}")
        for rule in present(env, cfg)
        if (kind := inferred_type(rule)) and not _fits(env[rule.name].strip(), kind)
    ]


def forbidden(env: dict[str, str], cfg: Env) -> list[EnvFinding]:
    out = []
    for name, values in cfg.forbid.items():
        banned = {values} if isinstance(values, str) else set(values)
        value = env.get(name, "").strip()
        if value.lower() in {v.lower() for v in banned}:
            shown = "a value" if is_secret_name(name) else repr(value)
            out.append(EnvFinding(name, f"is {shown}, which env.forbid rules out for this target"))
    return out


def _fits(value: str, kind: str) -> bool:
    if kind == "int":
        return re.fullmatch(r"[+-]?\d+", value) is not None
    if kind == "port":
        return value.isdigit() and 1 <= int(value) <= 65535
    if kind == "bool":
        return value.lower() in {"1", "0", "true", "false", "yes", "no", "on", "off"}
    if kind == "url":
        parts = urlsplit(value)
        return bool(parts.scheme and (parts.netloc or parts.scheme in ("file", "unix")))
    if kind == "email":
        _, address = email.utils.parseaddr(value)
        return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address or "") is not None
    return True
