"""With --json, stdout carries one JSON object whatever happens: on an invalid profile and an
unreachable target too, `{"error": {"exit_code", "meaning", "message"}}`, the human message on stderr."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from tests.conftest import deploycheck

JSON_COMMANDS = [
    ["status"],
    ["drift"],
    ["lint"],
    ["backups", "list"],
    ["backups", "verify", "--latest"],
    ["backups", "preview", "--latest"],
    ["backups", "drill", "--latest"],
]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def unreachable(tmp_path):
    """A profile whose database socket and backup host answer nothing."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__t.sql").write_text("CREATE TABLE t (id INT);\n")
    profile = tmp_path / "gone.yml"
    profile.write_text(
        yaml.safe_dump(
            {
                "target": "test",
                "database": {"socket": str(tmp_path / "no.sock"), "user": "root", "name": "app"},
                "migrations": {"dir": "migrations", "naming": "flyway"},
                "backups": {"source": f"ssh://nobody@127.0.0.1:{_closed_port()}/backup"},
                "timeouts": {"default_s": 2},
            }
        )
    )
    return profile


def _error(result) -> dict:
    __tracebackhide__ = True
    try:
        data = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"stdout is not one JSON object: {result.stdout!r} (stderr {result.stderr!r})")
    assert set(data) == {"error"}, data
    assert data["error"]["exit_code"] == result.returncode
    assert data["error"]["message"] and data["error"]["message"] in result.stderr
    return data["error"]


@pytest.mark.parametrize("command", JSON_COMMANDS, ids=" ".join)
def test_invalid_profile_gives_one_json_error(tmp_path, command) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("target: test\ndatabase: {port: many}\n")
    result = deploycheck(*command, "--profile", str(bad), "--json", cwd=tmp_path)
    assert result.returncode == 2
    error = _error(result)
    assert error["meaning"] == "bad invocation or invalid profile"
    assert "database.port" in error["message"]


@pytest.mark.parametrize("command", JSON_COMMANDS, ids=" ".join)
def test_unreachable_target_gives_one_json_error(unreachable, command) -> None:
    result = deploycheck(*command, "--profile", str(unreachable), "--json", cwd=unreachable.parent)
    assert result.returncode == 3, result.stdout + result.stderr
    error = _error(result)
    assert error["meaning"] == "the target could not be reached"


def test_bad_invocation_with_json_gives_one_json_error(tmp_path) -> None:
    result = deploycheck("status", "--json", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    error = _error(result)
    assert "unrecognized arguments: --no-such-option" in error["message"]


def test_without_json_stdout_stays_empty_on_errors(unreachable) -> None:
    result = deploycheck("status", "--profile", str(unreachable), cwd=unreachable.parent)
    assert result.returncode == 3 and result.stdout == ""
    assert "deploycheck status: cannot connect to" in result.stderr


def test_backups_now_and_fetch_answer_json_too(project, tmp_path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    project.add("V1__t.sql", "CREATE TABLE gene (id INT PRIMARY KEY);\n")
    project.migrator().migrate()
    project.write_profile(backups={"source": str(folder)})
    taken = project.cli("backups", "now", "--json")
    assert taken.returncode == 0, taken.stderr
    made = Path(json.loads(taken.stdout)["path"])
    assert made.parent == folder and made.is_file()
    dest = tmp_path / "dest"
    dest.mkdir()
    fetched = project.cli("backups", "fetch", made.name, "--to", str(dest), "--json")
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout) == {"path": str(dest / made.name)}
