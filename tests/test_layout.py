"""The shape of the package: imports point down, one error tree, and a wheel that works
outside the source tree."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import runner
from runner.errors import DeploycheckError

RUNNER = Path(runner.__file__).parent
ROOT = RUNNER.parent

# Lower ranks are imported by higher ones, never the other way round; equal ranks are strangers.
RANK = {
    "__init__": 0,  # `from runner import bundled, PROFILE_ENV, __version__`
    "errors": 0,
    "lazy": 0,
    "atomic": 1,  # refuses, with DeploycheckError, to append through a planted link
    "trust": 1,  # raises ProfileError for a CA file that cannot be used
    "redact": 1,
    "profile": 2,
    "db": 3,
    "migrations": 4,
    "mail": 4,
    "probes": 4,
    "report": 4,
    "backups": 5,
    "sandbox": 6,
    "suite": 7,
    "serve": 8,
    "cli": 9,
    "__main__": 10,
}


def _unit(module: str) -> str:
    """runner.backups.dump -> backups; runner.errors -> errors; runner -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Every runner module `path` imports: at the top, inside functions, under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("runner"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runner"):
            found.add(node.module)
            if node.module == "runner":  # `from runner.X import` spelled `from runner import X`
                found.update(f"runner.{a.name}" for a in node.names if (RUNNER / a.name).is_dir())
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def test_imports_point_down() -> None:
    upward = []
    for path in sorted(RUNNER.rglob("*.py")):
        if "checks" in path.relative_to(RUNNER).parts:
            continue
        here = _unit(_module_name(path))
        assert here in RANK, f"{path}: a new part of the package needs a rank in this test"
        for imported in _imports(path):
            there = _unit(imported)
            if there != here and RANK[there] >= RANK[here]:
                upward.append(f"{path.relative_to(ROOT)} ({here}) imports {imported} ({there})")
    assert upward == []


def test_the_import_check_catches_an_upward_import(tmp_path) -> None:
    """The check above can fail: a low module that imports the CLI is caught."""
    bad = tmp_path / "db.py"
    bad.write_text("def f():\n    from runner.cli.main import main\n")
    assert "runner.cli.main" in _imports(bad)
    assert RANK[_unit("runner.cli.main")] >= RANK["db"]


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(RUNNER)], prefix="runner."):
        if not info.name.startswith(("runner.checks", "runner.__main__")):
            names.append(info.name)
    return names


def test_every_exception_derives_from_the_one_tree() -> None:
    strays = []
    for name in _all_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == name
                and issubclass(cls, BaseException)
                and not issubclass(cls, DeploycheckError)
            ):
                strays.append(f"{name}.{cls.__name__}")
    assert strays == []


def test_error_tree_is_drawn_in_the_errors_docstring() -> None:
    import runner.errors as errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, DeploycheckError)]
    missing = [c.__name__ for c in classes if c.__name__ not in (errors.__doc__ or "")]
    assert missing == []


def test_backups_verify_file_loads_no_profile_model(tmp_path) -> None:
    probe = (
        "import sys, runner.cli.backups, runner.backups.integrity;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pydantic', 'croniter', 'pymysql')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json;" + probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built and installed into a new virtual environment, under a path whose words
    (env, checks, venv, site-packages, python) could each be mistaken for a check's name."""
    root = tmp_path_factory.mktemp("env-checks")
    wheels = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    (wheel,) = wheels.glob("deploycheck-*.whl")
    subprocess.run([str(pip), "install", "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    return env_dir


def _outside(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working folder that is not the checkout, and an environment that points nowhere in it."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    return work, {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEPLOYCHECK_PROFILE")}


@pytest.mark.slow
def test_installed_verify_selects_by_the_checks_names(installed, tmp_path) -> None:
    """-k env runs the env checks only and -k "not smtp" leaves out the SMTP checks only,
    although the installation's path holds env, checks, venv and site-packages."""
    work, environment = _outside(tmp_path)
    (work / "app.env").write_text("APP_MODE=production\n")
    (work / "p.yml").write_text("target: test\nenv: {source: 'dotenv:app.env', required: [APP_MODE]}\n")

    def verify(selection: str) -> dict:
        done = subprocess.run(
            [str(installed / "bin" / "deploycheck"), "verify", "--profile", "p.yml", "-k", selection],
            capture_output=True,
            text=True,
            cwd=work,
            env=environment,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for noise in ("rootdir:", "configfile:", "site-packages", "Generated html report"):
            assert noise not in done.stdout + done.stderr
        (newest, *_) = sorted((work / "reports" / "p").glob("*/report.json"), reverse=True)
        return json.loads(newest.read_text())

    assert {c["area"] for c in verify("env")["checks"]} == {"env"}
    areas = [c["area"] for c in verify("not smtp")["checks"]]
    assert "smtp" not in areas and {"env", "database", "backups", "tls", "http", "dns"} <= set(areas)


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo_outside_the_checkout(installed, tmp_path) -> None:
    """Built as a wheel and installed into a new virtual environment, `deploycheck demo` runs
    every check from a folder that is not the checkout."""
    env_dir = installed
    work, environment = _outside(tmp_path)
    demo = subprocess.run(
        [str(env_dir / "bin" / "deploycheck"), "demo"],
        capture_output=True,
        text=True,
        cwd=work,
        env=environment,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    (report_path,) = (work / "reports" / "demo").glob("*/report.json")
    report = json.loads(report_path.read_text())
    assert report["outcome"] == "passed" and report["summary"]["passed"] >= 40
    found = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import runner; print(runner.bundled('checks'))"],
        capture_output=True,
        text=True,
        cwd=work,
        check=True,
    ).stdout.strip()
    assert found.startswith(str(env_dir)), found  # the wheel's checks, not the checkout's


def test_every_check_says_what_it_measured() -> None:
    """A pass without evidence is a claim: each check takes the `evidence` fixture (and calls it)."""
    silent = []
    for path in sorted((ROOT / "checks").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                takes = "evidence" in {a.arg for a in node.args.args}
                calls = any(
                    isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "evidence"
                    for n in ast.walk(node)
                )
                if not (takes and calls):
                    silent.append(f"{path.name}::{node.name}")
    assert silent == []
