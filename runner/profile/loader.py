"""Find, read and validate a profile: YAML, `${VAR}` interpolation, one clear error per problem."""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from runner import PROFILE_ENV, bundled
from runner.errors import ProfileError, UsageError
from runner.profile.model import Profile
from runner.redact import MASK, Redactor, is_secret_name

PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# a `${NAME}` (or `${NAME:-default}`): the profile reads its value from the environment
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def resolve_profile_path(spec: str | None, search_dirs: tuple[Path, ...] | None = None) -> Path:
    """`--profile NAME` means profiles/NAME.yml; anything that looks like a path is a path."""
    spec = spec or os.environ.get(PROFILE_ENV)
    if not spec:
        raise UsageError(f"no profile given: pass --profile NAME (or a path) or set {PROFILE_ENV}")
    as_path = Path(spec)
    if as_path.suffix in (".yml", ".yaml") or os.sep in spec:
        if as_path.is_file():
            return as_path
        raise ProfileError(f"{spec}: profile file not found")
    dirs = search_dirs or (Path.cwd() / "profiles", bundled("profiles"))
    tried = []
    for folder in dirs:
        for suffix in (".yml", ".yaml"):
            candidate = folder / f"{spec}{suffix}"
            if candidate.is_file():
                return candidate
            tried.append(str(candidate))
    raise ProfileError(f"profile {spec!r} not found (looked for {', '.join(tried)})")


def load_profile(spec: str | None) -> Profile:
    """Load and validate the profile named by `spec` (or $DEPLOYCHECK_PROFILE)."""
    path = resolve_profile_path(spec)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: profile is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"{path}: not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile must be a mapping of sections, got {type(raw).__name__}")
    for reserved in ("name", "path"):
        if reserved in raw:
            raise ProfileError(
                f"{path}: {reserved}: unknown key (the profile's {reserved} comes from its file)"
            )
    data = _interpolate(raw, path, ())
    if not PROFILE_NAME.fullmatch(path.stem):
        raise ProfileError(
            f"{path}: the profile's name {path.stem!r} (its file name) must start with a letter or "
            "digit and hold only letters, digits, '.', '_' and '-': rename the file (the name "
            "becomes a folder under reports/)"
        )
    data.update(name=path.stem, path=path.resolve())
    try:
        return Profile.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        secrets = Redactor()  # a validator's words may quote a value a secret variable filled in
        secrets.add_environment(os.environ)  # as every run's redactor does (for_profile)
        raise ProfileError(secrets.mask(_describe(exc, path, _hidden_keys(raw)))) from None


def _interpolate(value: Any, path: Path, where: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path, (*where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path, (*where, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            if not _is_text(os.environ[name]):  # surrogates: no statement, URL or file can carry them
                raise ProfileError(
                    f"{path}: {_dotted(where)}: environment variable {name} holds bytes that are not "
                    "UTF-8: set it to UTF-8 text"
                )
            return os.environ[name]
        if default is not None:
            return default
        raise ProfileError(
            f"{path}: {_dotted(where)}: environment variable {name} is not set "
            f"(set it, or give a default as ${{{name}:-value}})"
        )

    return VARIABLE.sub(substitute, value)


def _is_text(value: str) -> bool:
    """False for a value holding surrogates: bytes that were not UTF-8 (os.environ keeps them so)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _hidden_keys(value: Any) -> set[str]:
    """Keys (any section) whose value is never shown, whatever their name: read by a `KEY_file`
    key from a file (`port_file: dbpw`), or holding a secret-named variable (`port: ${DB_PASSWORD}`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("_file"):
                found.add(key[: -len("_file")])
            elif isinstance(item, str) and any(is_secret_name(m.group(1)) for m in VARIABLE.finditer(item)):
                found.add(str(key))
    for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        found |= _hidden_keys(item)
    return found


def _describe(exc: ValidationError, path: Path, hidden: set[str]) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = _dotted(loc)
        message = _FRIENDLY.get(err["type"], err["msg"])
        if err["type"] == "extra_forbidden":
            message += _suggestion(loc)
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        shown = err.get("input")
        secret = _holds_secret(loc) or any(
            isinstance(p, str) and (is_secret_name(p) or p in hidden) for p in loc
        )
        if (
            err["type"] not in _FRIENDLY
            and not secret
            and isinstance(shown, (str, int, float, bool))
            and repr(shown) not in message  # a validator's words that quote it already
        ):
            message += f" (got {shown!r})"
        elif secret and isinstance(shown, str) and shown:
            for form in sorted({shown, repr(shown)[1:-1]}, key=len, reverse=True):
                message = message.replace(form, MASK)  # a validator's own words may quote it, repr() too
        message = _without_credentials(message, shown)
        lines.append(f"{path}: {key}: {message}")
    return "\n".join(lines)


def _without_credentials(message: str, shown: Any) -> str:
    """`message` with what the URLs in `shown` (a key's value, a list's, a section's) hold as credentials
    masked (user:PASSWORD@, secret-named query values), as every other output masks them: a
    refused URL is quoted whole."""
    redactor, values = Redactor(), [shown]
    while values:
        value = values.pop()
        if isinstance(value, (list, dict)):
            values += value.values() if isinstance(value, dict) else value
        elif isinstance(value, str) and "://" in value:
            try:
                redactor.add_url(value)
            except ValueError:  # not a URL urlsplit reads: nothing it would call a credential
                continue
    return redactor.mask(message)


def _holder(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The section model whose key loc[-1] is (None where loc leaves the models)."""
    model: type[BaseModel] | None = Profile
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field else None
    return model


def _holds_secret(loc: tuple[str | int, ...]) -> bool:
    """A key typed SecretStr (notify.webhook_url), whatever its name says."""
    model, key = _holder(loc), loc[-1] if loc else None
    field = model.model_fields.get(key) if model is not None and isinstance(key, str) else None
    return field is not None and SecretStr in (field.annotation, *typing.get_args(field.annotation))


def _suggestion(loc: tuple[str | int, ...]) -> str:
    """`database.pasword: unknown key (did you mean password?)`"""
    model = _holder(loc)
    if model is None or not isinstance(loc[-1], str):
        return ""
    keys = [f.alias or name for name, f in model.model_fields.items() if name not in ("name", "path")]
    close = difflib.get_close_matches(loc[-1], keys, n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model inside `Database | None`, `list[HttpCheck]` and the like."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
