"""`deploycheck verify --profile A --profile B ...`: several targets at once, one archive each, the
worst exit code, one metrics file, and nothing left running or staged after SIGTERM. The targets
are cheap real ones: an HTTP server on loopback, a port that never answers, a database socket
that does not exist."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.suite import many as many_module

pytestmark = pytest.mark.slow


class _App(BaseHTTPRequestHandler):
    """/ok answers 200, anything else 500."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def profiles(tmp_path: Path, app: str):
    """write(name, kind): a profile whose target passes, fails, is unreachable or checks nothing."""

    def write(name: str, kind: str, folder: Path = tmp_path) -> Path:
        body = {
            "passing": f"http:\n  - url: {app}/ok\n",
            "failing": f"http:\n  - url: {app}/broken\n",
            "unreachable": f"database: {{socket: {tmp_path / 'gone.sock'}, user: u, name: d}}\n",
            "nothing": "",
        }[kind]
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.yml"
        path.write_text(f"target: {name}\n{body}")
        return path

    return write


def verify(tmp_path: Path, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "runner", "verify", "--reports", str(tmp_path / "reports")]
    return subprocess.run(
        [*command, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd or tmp_path
    )


def many(*paths: Path) -> list[str]:
    return [arg for path in paths for arg in ("--profile", str(path))]


def archived(tmp_path: Path, name: str) -> list[Path]:
    folder = tmp_path / "reports" / name
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


def lines_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Each target's summary line, by name, and the verdict line under "" (after the blocks)."""
    tail = result.stdout.rsplit("\n\n", 1)[-1].splitlines()
    found = {m.group(1): line for line in tail if (m := re.match(r"  ([\w.-]+): ", line))}
    found[""] = tail[-1]
    return found


def test_a_passing_and_a_failing_target_exit_1_with_an_archive_and_a_line_each(tmp_path, profiles) -> None:
    result = verify(tmp_path, *many(profiles("web", "passing"), profiles("api", "failing")))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = lines_of(result)
    assert lines[""] == "deploycheck verify: FAILED (exit 1): 1 of 2 targets passed; failed: api"
    for name, said in [("web", "PASSED (exit 0); report: "), ("api", "FAILED (exit 1): blocked by ")]:
        (run,) = archived(tmp_path, name)
        assert said in lines[name] and lines[name].endswith(f"report: {run}/report.html")
        report = json.loads((run / "report.json").read_text())
        assert report["profile"] == name and report["exit_code"] == (0 if name == "web" else 1)
    assert "test_endpoint_answers" in lines["api"]
    # each target's output whole, under its own heading: no line of one inside the other's block
    blocks = dict(
        re.findall(r"\n=== (\w+) \(.*?\) ===\n(.*?)deploycheck verify: \1 finished", result.stdout, re.S)
    )
    assert set(blocks) == {"web", "api"}
    assert "/ok" not in blocks["api"] and "status 500, expected 200" in blocks["api"]
    assert (
        "deploycheck verify: PASSED (exit 0) - 1 passed" in blocks["web"] and "/broken" not in blocks["web"]
    )
    assert (
        "deploycheck verify: 2 targets, 2 at a time\ndeploycheck verify: running web, api\n" in result.stdout
    )
    assert re.search(r"api finished \(\d of 2\): FAILED \(exit 1\)", result.stdout)


def test_every_target_unreachable_exits_3(tmp_path, profiles) -> None:
    result = verify(tmp_path, *many(profiles("one", "unreachable"), profiles("two", "unreachable")))
    assert result.returncode == 3, result.stdout + result.stderr
    lines = lines_of(result)
    assert lines[""] == "deploycheck verify: ERROR (exit 3): 0 of 2 targets passed; unreachable: one, two"
    assert "ERROR (exit 3): target unreachable: database; report: " in lines["one"]


def test_one_unreachable_and_one_passing_target_exit_1(tmp_path, profiles) -> None:
    result = verify(tmp_path, *many(profiles("up", "passing"), profiles("down", "unreachable")))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        lines_of(result)[""]
        == "deploycheck verify: FAILED (exit 1): 1 of 2 targets passed; unreachable: down"
    )


def test_a_target_that_judged_nothing_keeps_the_whole_run_from_passing(tmp_path, profiles) -> None:
    """A gate never passes on nothing: a profile whose every check skipped is exit 2 alone, and
    exit 2 among passing targets."""
    result = verify(tmp_path, *many(profiles("web", "passing"), profiles("empty", "nothing")))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = lines_of(result)
    assert lines["empty"] == "  empty: NO VERDICT (exit 2); no run was archived"
    assert lines[""] == "deploycheck verify: ERROR (exit 2): 1 of 2 targets passed; no verdict: empty"
    assert "PASSED (exit 0)" not in lines[""] and archived(tmp_path, "empty") == []


def test_an_invalid_second_profile_exits_2_before_anything_runs(tmp_path, profiles) -> None:
    bad = profiles("bad", "passing")
    bad.write_text(bad.read_text() + "timeouts: {default_s: soon}\n")
    result = verify(tmp_path, *many(profiles("web", "passing"), bad))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad}: timeouts.default_s: Input should be a valid number" in result.stderr
    assert result.stdout == "" and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("twice", ["same path", "same name"])
def test_a_target_given_twice_or_two_sharing_an_archive_folder_exit_2(tmp_path, profiles, twice) -> None:
    first = profiles("web", "passing")
    if twice == "same path":
        second, expected = Path("./web.yml"), f"{first} is given twice with --profile"
    else:
        second = profiles("web", "failing", tmp_path / "staging")
        expected = (
            f"{first} and {second} are both named 'web': their runs would share the archive folder web/"
        )
    result = verify(tmp_path, *many(first, second))
    assert result.returncode == 2 and expected in result.stderr, result.stdout + result.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_jobs_bounds_the_targets_running_at_once(tmp_path, profiles, jobs) -> None:
    paths = [profiles("a", "passing"), profiles("b", "passing"), profiles("c", "failing")]
    result = verify(tmp_path, *many(*paths), "--jobs", jobs)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"3 targets, {jobs} at a time" in result.stdout
    running = re.findall(r"deploycheck verify: running (.*)", result.stdout)
    assert max(len(r.split(", ")) for r in running) == int(jobs)
    assert all(len(archived(tmp_path, name)) == 1 for name in "abc")
    quiet = verify(tmp_path, *many(*paths), "--jobs", jobs, "--quiet")
    assert quiet.returncode == 1 and quiet.stdout.count("\n") == 5, quiet.stdout  # blank, 3 targets, verdict


def test_jobs_must_be_a_positive_number(tmp_path, profiles) -> None:
    result = verify(tmp_path, *many(profiles("a", "passing"), profiles("b", "passing")), "--jobs", "0")
    assert result.returncode == 2 and "--jobs: 0 is not a positive number" in result.stderr


def test_pytest_options_pass_through_to_every_target(tmp_path, profiles) -> None:
    result = verify(tmp_path, *many(profiles("a", "passing"), profiles("b", "failing")), "-k", "env")
    assert result.returncode == 2, result.stdout + result.stderr  # -k env selects nothing that judges
    assert result.stdout.count("no check ran to a verdict") == 2


def test_metrics_cover_every_target_in_one_textfile(tmp_path, profiles, app) -> None:
    prom = tmp_path / "deploycheck.prom"
    result = verify(
        tmp_path, *many(profiles("web", "passing"), profiles("api", "failing")), "--metrics", prom
    )
    assert result.returncode == 1, result.stdout + result.stderr
    families = list(text_string_to_metric_families(prom.read_text()))
    names = [f.name for f in families]
    assert len(names) == len(set(names))  # a family twice is refused by Prometheus
    (codes,) = [f.samples for f in families if f.name == "deploycheck_last_run_exit_code"]
    assert {s.labels["profile"]: s.value for s in codes} == {"web": 0, "api": 1}
    (checks,) = [f.samples for f in families if f.name == "deploycheck_check_ok"]
    assert {s.labels["profile"] for s in checks} == {"web", "api"}
    failed = {(s.labels["profile"], s.labels["check"]) for s in checks if s.value == 0}
    assert failed == {("api", f"checks/test_http.py::test_endpoint_answers[{app}/broken]")}


def samples(prom: Path, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The textfile's samples of one family, by their labels."""
    (family,) = [f for f in text_string_to_metric_families(prom.read_text()) if f.name == name]
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_a_target_that_archived_nothing_keeps_its_series_with_its_exit_code(tmp_path, profiles, app) -> None:
    """A target that judged nothing this time (no archive) vanished from the textfile, so its
    firing alerts resolved and DeploycheckNoRecentRun could never fire for it: its previous
    series stay, with exit 2 and outcome error, and its last-run time is not refreshed."""
    prom = tmp_path / "deploycheck.prom"
    web, api = profiles("web", "passing"), profiles("api", "failing")
    assert verify(tmp_path, *many(web, api), "--metrics", prom).returncode == 1
    before = samples(prom, "deploycheck_last_run_timestamp_seconds")
    api.write_text("target: api\n")  # judges nothing now: exit 2, no run archived
    result = verify(tmp_path, *many(web, api), "--metrics", prom)
    assert result.returncode == 2, result.stdout + result.stderr
    assert samples(prom, "deploycheck_last_run_exit_code") == {
        (("profile", "web"),): 0,
        (("profile", "api"),): 2,
    }
    outcomes = samples(prom, "deploycheck_last_run_outcome")
    assert {labels: v for labels, v in outcomes.items() if ("profile", "api") in labels and v == 1} == {
        (("outcome", "error"), ("profile", "api")): 1
    }
    after = samples(prom, "deploycheck_last_run_timestamp_seconds")
    assert after[(("profile", "api"),)] == before[(("profile", "api"),)]
    assert after[(("profile", "web"),)] > before[(("profile", "web"),)]
    failed = [labels for labels, v in samples(prom, "deploycheck_check_ok").items() if v == 0]
    assert [dict(labels)["profile"] for labels in failed] == ["api"]  # its blocker still alerts
    checked = subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"],
        input=prom.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_runner_package_in_the_working_directory_is_not_what_the_targets_run(tmp_path, profiles) -> None:
    """Hostile input: an app's own `runner` package where verify is started must not be imported
    by the children (python -m runner would run it first)."""
    planted = tmp_path / "app" / "runner"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("raise SystemExit('the app runner package ran')\n")
    (planted / "__main__.py").write_text("raise SystemExit('the app runner package ran')\n")
    paths = many(profiles("a", "passing"), profiles("b", "passing"))
    deploycheck = Path(sys.executable).with_name("deploycheck")  # its sys.path does not hold the cwd
    result = subprocess.run(
        [str(deploycheck), "verify", "--reports", str(tmp_path / "reports"), *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=planted.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the app runner package ran" not in result.stdout + result.stderr


def _running_with(marker: str) -> list[str]:
    """Command lines of processes that name `marker` (this test's folder), but not this test's
    process (by pid: the folder's own path says "pytest" under pytest's default basetemp)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        if cmdline.parent.name == str(os.getpid()):
            continue
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


@contextmanager
def two_waiting(tmp_path: Path, profiles, *args: str | Path) -> Iterator[subprocess.Popen[str]]:
    """A verify of `one` and `two`, both waiting on a port that accepts and never answers, and
    `later` (passing) not yet started: the verify process, once both wait."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)
        silent = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        paths = []
        for name in ("one", "two"):
            path = tmp_path / f"{name}.yml"
            path.write_text(f"target: {name}\nhttp:\n  - url: {silent}/{name}\ntimeouts: {{default_s: 60}}\n")
            paths.append(path)
        paths.append(profiles("later", "passing"))
        command = [sys.executable, "-m", "runner", "verify", "--reports", str(tmp_path / "reports")]
        proc = subprocess.Popen(
            [*command, *many(*paths), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        try:
            blackhole.settimeout(60)
            waiting = [blackhole.accept()[0] for _ in range(2)]  # both running targets wait on it
            yield proc
            for conn in waiting:
                conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=120)


def archived_interrupted_and_nothing_left(tmp_path: Path) -> None:
    assert _running_with(str(tmp_path)) == []
    for name in ("one", "two"):  # each archived its interrupted run, as a single verify does
        (run,) = archived(tmp_path, name)
        assert json.loads((run / "report.json").read_text())["interrupted"] is True
    staged = [p for p in (tmp_path / "reports").rglob(".run-*")]
    assert staged == [] and archived(tmp_path, "later") == []


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT], ids=lambda s: s.name
)
def test_a_stop_signal_stops_every_target_exits_130_and_leaves_nothing_behind(
    tmp_path, profiles, signum
) -> None:
    """SIGHUP (the terminal closed) and SIGQUIT are held and forwarded like Ctrl-C and SIGTERM;
    before, they killed the parent alone and the children went on probing."""
    prom = tmp_path / "deploycheck.prom"
    with two_waiting(tmp_path, profiles, "--metrics", prom) as proc:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "deploycheck verify: interrupted: stopping one, two" in out
    assert out.rstrip().endswith(
        "deploycheck verify: INTERRUPTED (exit 130): 0 of 3 targets passed; interrupted: one, two; not run: later"
    )
    assert "  later: NOT RUN (stopped before it started)" in out
    archived_interrupted_and_nothing_left(tmp_path)
    codes = samples(prom, "deploycheck_last_run_exit_code")  # never started: 130, not left out
    assert codes == {(("profile", "one"),): 1, (("profile", "two"),): 1, (("profile", "later"),): 130}


def test_a_parent_killed_outright_takes_its_targets_with_it(tmp_path, profiles) -> None:
    """SIGKILL cannot be held: each child gets SIGTERM from the kernel when its parent dies, and
    archives and cleans up as if the parent had sent it; before, they kept probing the target."""
    with two_waiting(tmp_path, profiles) as proc:
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while _running_with(str(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.2)
    archived_interrupted_and_nothing_left(tmp_path)


def test_a_target_whose_parent_is_gone_before_it_starts_does_not_run(tmp_path, profiles) -> None:
    """The race die_with closes: a parent that died before the child asked for its SIGTERM
    (the child's parent is then another process) means the child stops at once, judging nothing."""
    root = str(Path(many_module.__file__).resolve().parent.parent.parent)
    gone = subprocess.run(
        [
            sys.executable,
            "-P",
            "-c",
            many_module.CHILD,
            root,
            "1",
            "verify",
            "--profile",
            str(profiles("a", "passing")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert gone.returncode == 130 and archived(tmp_path, "a") == [], gone.stdout + gone.stderr
