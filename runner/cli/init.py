"""`deploycheck init`: write a profile for the team's own stack from its compose files and .env."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from runner.atomic import write_atomically
from runner.errors import ProfileError, UsageError
from runner.profile.compose import load_compose, read_env_file
from runner.profile.init import CONFIG, EXAMPLE, MIGRATIONS, SECRETS, infer, render
from runner.profile.loader import load_profile

_COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
_OVERRIDES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


def cmd_init(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.for_container and args.remote:
        raise UsageError(
            f"--for-container reads backups from the /backup mount of {EXAMPLE}, --remote over SSH: "
            "pass one of them"
        )
    files = [_normal(f) for f in args.compose] if args.compose else _default_files()
    env_file = _normal(args.env_file) if args.env_file else None
    env_file = env_file or (files[0].parent / ".env" if (files[0].parent / ".env").is_file() else None)
    variables = read_env_file(env_file) if env_file else {}
    compose = load_compose(files, variables)
    name = args.name or compose.project
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' and '-' (it names the profile)")
    target = _normal(args.out or Path("profiles") / f"{name}.yml")
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists: pass --force to replace it (nothing written)")
    found = infer(
        compose,
        name,
        target,
        env_file,
        args.remote,
        env_file_given=bool(args.env_file),
        for_container=args.for_container,
    )
    text = render(found, [*files, *([env_file] if env_file else [])])
    created = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)  # relative paths in the profile start there
    try:
        if args.for_container:
            _check_that_it_loads_in_the_container(text, target.name)
        else:
            _check_that_it_loads(text, target)
    except UsageError:
        if created:
            target.parent.rmdir()
        raise
    write_atomically(target, text)
    lines = [f"init: wrote {target}", f"  inferred: {', '.join(found.inferred())}"]
    lines += [f"  not inferred: {item}" for item in found.missing]
    if args.for_container:
        stack = " ".join(f"-f {os.path.relpath(f)}" for f in files)
        lines.append(
            f"next: mount {target} at {CONFIG}/{target.name} in the service of {EXAMPLE}, then "
            f"`docker compose {stack} -f compose.deploycheck.yml run --rm deploycheck verify "
            f"--profile {CONFIG}/{target.name}`"
        )
    elif found.inside_stack:
        lines.append(
            f"next: database.host is the compose service {found.values['database']['host']}, reachable "
            "from inside the stack only: run deploycheck there as a service "
            f"({EXAMPLE}) with --profile {target}, or publish the port"
        )
    else:
        load_env = f"set -a; . {env_file}; set +a; " if env_file else ""
        lines.append(f"next: {load_env}deploycheck verify --profile {target}")
    print("\n".join(lines), file=out)
    return 0


def _normal(path: str | Path) -> Path:
    """A path as the user gave it, without `..` detours (`profiles/../x` is `x`)."""
    return Path(os.path.normpath(path))


def _default_files() -> list[Path]:
    here = Path.cwd()
    base = next((here / n for n in _COMPOSE_NAMES if (here / n).is_file()), None)
    if base is None:
        raise UsageError(f"no compose file in {here}: pass --compose FILE")
    return [base, *(here / n for n in _OVERRIDES if (here / n).is_file())]


def _check_that_it_loads(text: str, target: Path) -> None:
    """The written profile must load; its ${VAR} references are set to stand-ins for the check."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=target.parent, delete=False) as handle:
        handle.write(text)
    try:
        _load(text, handle.name)
    finally:
        os.unlink(handle.name)


def _check_that_it_loads_in_the_container(text: str, name: str) -> None:
    """The profile for the example's service must load there: it is checked in a stand-in of its
    container, a folder for /config with the migrations folder and one for /run/secrets."""
    with tempfile.TemporaryDirectory(prefix="deploycheck-init-") as scratch:
        config, secrets = Path(scratch, CONFIG.strip("/")), Path(scratch, "secrets")
        (config / MIGRATIONS).mkdir(parents=True)
        secrets.mkdir()
        # names a file can have (not `..`, not longer than NAME_MAX); the text's comments quote the
        # stack's mounts, so a name found there gets a stand-in too, and any other is left to fail
        for secret in set(re.findall(rf"{SECRETS}/([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})", text)):
            (secrets / secret).write_text("stand-in\n")
        text = text.replace(f"{SECRETS}/", f"{secrets}/")
        (config / name).write_text(text)
        _load(text, config / name)


def _load(text: str, path: str | Path) -> None:
    """Load the profile at `path` (holding `text`), its ${VAR} references set to stand-ins."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    try:
        with _stand_ins(names):
            load_profile(path)
    except ProfileError as exc:
        raise UsageError(f"the inferred profile does not load, so nothing was written:\n{exc}") from None


@contextmanager
def _stand_ins(names: set[str]) -> Iterator[None]:
    missing = [n for n in names if n not in os.environ]
    os.environ.update(dict.fromkeys(missing, "stand-in"))
    try:
        yield
    finally:
        for name in missing:
            os.environ.pop(name, None)
