"""A team's compose files and .env as `docker compose` reads them: YAML through a YAML library,
files merged base first (later files override keys; environment, labels, ports and volumes
merge), `extends` followed, and values interpolated by the compose spec's rules (`${VAR}`,
`${VAR:-default}`, `${VAR:+other}`, `${VAR:?err}`, their forms without `:`, nested defaults,
`$VAR`, `$$`) from the env
file and the process environment. The raw values stay available, so that whoever reads a
value can tell which variable it came from (a password becomes `${THAT_VARIABLE}`, never its
value)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ProfileError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_MERGED_LISTS = ("ports", "volumes", "secrets", "env_file", "depends_on")
_MAX_NESTING = 50  # `${A:-${B:-...}}` deeper than any team writes: refused, not a RecursionError


def _read_text(path: Path, what: str) -> str:
    """`path` as UTF-8 text; unreadable or not UTF-8 is a ProfileError naming the line, not the bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ProfileError(f"{path}:{line}: not UTF-8: save the {what} as UTF-8 text") from None


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a .env file; a line that is not NAME=value is an error naming its line."""
    from dotenv.parser import parse_stream  # python-dotenv's own parser, with line numbers

    values: dict[str, str] = {}
    for binding in parse_stream(_Lines(_read_text(path, "env file"))):
        if binding.error:  # the line is not shown: it may be `PASSWORD='...` with its quote unclosed
            name = binding.original.string.partition("=")[0].strip()
            which = f" ({name}=...)" if _NAME.fullmatch(name) else ""
            raise ProfileError(f"{path}:{binding.original.line}: not NAME=value{which}: check its quotes")
        if binding.key is not None:
            values[binding.key] = binding.value or ""
    return values


class _Lines:
    """What parse_stream reads: a stream with read()."""

    def __init__(self, text: str) -> None:
        self._text = text

    def read(self) -> str:
        return self._text


@dataclass
class Compose:
    """The merged compose model: `services` raw (as written), `variables` for interpolation."""

    files: list[Path]
    project: str
    services: dict[str, dict[str, Any]]
    volumes: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.files[0].parent

    def value(self, raw: Any) -> Any:
        """`raw` interpolated, recursively."""
        if isinstance(raw, str):
            return interpolate(raw, self.variables, self.files[0])
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if isinstance(raw, dict):
            return {key: self.value(item) for key, item in raw.items()}
        return raw

    def environment(self, service: str) -> dict[str, str]:
        """The service's environment, raw (`${X}` kept); an entry without a value (`- NAME`)
        is read from the variable of its name, so it stands as `${NAME}`."""
        raw = _as_mapping(self.services[service].get("environment"))
        return {key: f"${{{key}}}" if value is None else str(value) for key, value in raw.items()}

    def labels(self, service: str) -> dict[str, str]:
        return {k: str(self.value(v)) for k, v in _as_mapping(self.services[service].get("labels")).items()}


def referenced_variable(raw: str) -> str | None:
    """`DB_PASSWORD` for a value that is exactly `${DB_PASSWORD}` (or `$DB_PASSWORD`)."""
    text = raw.strip()
    braced = text.startswith("${") and text.endswith("}")
    name = text[2:-1] if braced else text[1:] if text.startswith("$") else ""
    return name if _NAME.fullmatch(name) else None


def interpolate(text: str, variables: Mapping[str, str], source: Path) -> str:
    """`text` with its variables substituted by the compose specification's rules: `$VAR`,
    `${VAR}`, `${VAR:-default}` and `${VAR-default}`, `${VAR:+other}` and `${VAR+other}`,
    `${VAR:?error}` and `${VAR?error}`, defaults that hold variables themselves, and `$$` for a
    `$`. A substituted value is not read again: a `$` in a password stays a `$`."""
    return _Template(text, variables, source).expand(0, closing=False)[0]


class _Template:
    """One pass over a template: a braced expression's argument is itself a template, which is
    what nesting (`${DB_NAME:-${APP_NAME}_db}`) needs and a regular expression cannot do."""

    def __init__(self, text: str, variables: Mapping[str, str], source: Path) -> None:
        self.text, self.variables, self.source = text, variables, source
        self.depth = 0

    def expand(self, at: int, closing: bool) -> tuple[str, int]:
        """The expansion from `at` up to the end (or, inside a brace, up to its `}`), and where
        it stopped."""
        text, out = self.text, []
        while at < len(text):
            char = text[at]
            if closing and char == "}":
                return "".join(out), at
            if char != "$":
                out.append(char)
                at += 1
                continue
            following = text[at + 1 : at + 2]
            if following == "$":
                out.append("$")
                at += 2
            elif following == "{":
                value, at = self._braced(at + 2)
                out.append(value)
            elif match := _NAME.match(text, at + 1):
                out.append(self.variables.get(match.group(0), ""))
                at = match.end()
            else:
                out.append("$")  # not a variable: compose keeps a lone `$`
                at += 1
        if closing:
            raise ProfileError(f"{self.source}: a `${{` without its closing `}}` (use `$$` for a `$`)")
        return "".join(out), at

    def _braced(self, at: int) -> tuple[str, int]:
        match = _NAME.match(self.text, at)
        if match is None:
            raise ProfileError(f"{self.source}: `${{` must be followed by a variable name (`$$` for a `$`)")
        name, at = match.group(0), match.end()
        operator = next((op for op in _OPERATORS if self.text.startswith(op, at)), None)
        value = self.variables.get(name)
        if operator is None:
            if self.text[at : at + 1] != "}":
                raise ProfileError(f"{self.source}: `${{{name}` is not closed by `}}`")
            return value or "", at + 1
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise ProfileError(f"{self.source}: variables nested deeper than {_MAX_NESTING} levels")
        argument, at = self.expand(at + len(operator), closing=True)
        self.depth -= 1
        is_set = value is not None and (value != "" or not operator.startswith(":"))
        if operator.endswith("-"):
            return (value if is_set else argument) or "", at + 1
        if operator.endswith("+"):
            return (argument if is_set else ""), at + 1
        if not is_set:
            raise ProfileError(f"{self.source}: variable {name} is required: {argument or 'not set'}")
        return value or "", at + 1


def load_compose(files: list[Path], variables: Mapping[str, str]) -> Compose:
    """Read and merge `files` as `docker compose -f A -f B` does."""
    if not files:
        raise ProfileError("no compose file: pass --compose FILE (docker-compose.yml, compose.yaml, ...)")
    merged: dict[str, Any] = {}
    for path in files:
        merged = _merge(merged, _read_yaml(path))
    services = merged.get("services") or {}
    if not isinstance(services, dict) or not services:
        raise ProfileError(f"{files[0]}: services: no services defined")
    for name in list(services):
        services[name] = _extended(services, name, files[-1], set())
    project = str(merged.get("name") or _project_name(files[0].resolve().parent.name))
    return Compose(
        files=[f.resolve() for f in files],
        project=project,
        services=services,
        volumes=dict(merged.get("volumes") or {}),
        secrets=dict(merged.get("secrets") or {}),
        variables={**dict(variables), **os.environ},
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    text = _read_text(path, "compose file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a compose file is a mapping with `services:`")
    _check_services(data.get("services"), path)
    return data


def _check_services(services: Any, path: Path) -> None:
    """The shapes the rest of this module reads, refused with the key that breaks them."""
    if not isinstance(services, dict):
        return  # none: load_compose says so when no file defines any
    for name, service in services.items():
        if not isinstance(name, str):  # YAML reads `1:` as a number; compose names are text
            raise ProfileError(f'{path}: services.{name}: a service\'s name is text; quote it ("{name}":)')
        if service is None:
            continue
        if not isinstance(service, dict):
            raise ProfileError(f"{path}: services.{name}: a service is a mapping (image:, environment:, ...)")
        extends = service.get("extends")
        if extends is not None and not isinstance(extends, str | dict):
            raise ProfileError(
                f"{path}: services.{name}.extends: the name of a service, or a mapping with `service:`"
            )
        for key in ("environment", "labels"):
            if service.get(key) is not None and not isinstance(service[key], list | dict):
                raise ProfileError(f"{path}: services.{name}.{key}: a list of NAME=value or a mapping")


def _merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for name, value in override.items():
            out[name] = _merge(base.get(name), value, name) if name in base else value
        return out
    if key in ("environment", "labels") and (isinstance(base, list) or isinstance(override, list)):
        return {**_as_mapping(base), **_as_mapping(override)}
    if key in _MERGED_LISTS and isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def _extended(services: dict[str, Any], name: str, source: Path, seen: set[str]) -> dict[str, Any]:
    service = dict(services[name] or {})
    extends = service.pop("extends", None)
    if extends is None:
        return service
    parent_name = extends if isinstance(extends, str) else extends.get("service")
    if isinstance(extends, dict) and extends.get("file"):
        named = source.parent / str(extends["file"])
        if named.exists() and not named.is_file():  # a FIFO or /dev/zero would never end
            raise ProfileError(f"{source}: services.{name}.extends.file: {named} is not a regular file")
        other = _read_yaml(named)
        pool = other.get("services") or {}
    else:
        pool = services
    if parent_name not in pool:
        raise ProfileError(f"{source}: services.{name}.extends: no service {parent_name!r} to extend")
    if parent_name in seen:
        raise ProfileError(f"{source}: services.{name}.extends: a loop through {parent_name!r}")
    parent = (
        _extended(pool, parent_name, source, seen | {name}) if pool is services else dict(pool[parent_name])
    )
    return _merge(parent, service)


def _as_mapping(value: Any) -> dict[str, Any]:
    """environment/labels as a list of `K=V` (or bare `K`) or as a mapping."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, rest = str(item).partition("=")
        out[key] = rest if sep else None
    return out


def _project_name(folder: str) -> str:
    """Compose's default project name: the folder's, lower case, only [a-z0-9_-]."""
    return re.sub(r"[^a-z0-9_-]", "", folder.lower()) or "app"
