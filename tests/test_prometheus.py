"""deploycheck on Prometheus and Alertmanager, for real: Debian's promtool judges the exposition
of a real archive (a passing and a failing run) and the shipped rules and their unit tests; the
Grafana dashboard names only metrics the exposition has; and a real Prometheus scrapes a real
`deploycheck serve` over two targets, with the shipped rules unchanged, fires the failing
target's alert and none for the passing one, and a real Alertmanager posts it to a webhook."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from runner.serve.app import Site, serve
from runner.serve.targets import find_targets
from tests.fleet import FAILING, PASSING, archive_two_targets, serving

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "prometheus"
PROMETHEUS, ALERTMANAGER, PROMTOOL = (
    "/usr/bin/prometheus",
    "/usr/bin/prometheus-alertmanager",
    "/usr/bin/promtool",
)
WAIT_S = 45  # for an alert to fire and arrive; it takes a few seconds


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    for tool in (PROMETHEUS, ALERTMANAGER, PROMTOOL):
        if not Path(tool).exists():
            pytest.fail(f"{tool} not found: install prometheus and prometheus-alertmanager (.ci/run does)")
    return archive_two_targets(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def exposition(fleet) -> str:
    """/metrics of `serve` over the two targets."""
    server = serve(Site(find_targets(fleet, [])[0]), "127.0.0.1", 0, None)
    try:
        return httpx.get(f"http://127.0.0.1:{server.server_address[1]}/metrics").text
    finally:
        server.shutdown()
        server.server_close()


def promtool(*args: str, text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], input=text, capture_output=True, text=True, timeout=60, cwd=EXAMPLES
    )


def names(exposition: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", exposition, re.MULTILINE))


# -- promtool on the exposition, the rules, the configs; the dashboard's names ------------------


def test_promtool_finds_nothing_in_the_exposition_of_a_real_archive(exposition, fleet) -> None:
    assert 'deploycheck_last_run_outcome{outcome="failed",profile="blog"} 1.0' in exposition
    assert 'deploycheck_last_run_outcome{outcome="passed",profile="shop"} 1.0' in exposition
    assert (
        'deploycheck_check_outcome{area="http",check="checks/test_http.py::test_endpoint_answers[home]",'
        'outcome="failed",profile="blog",severity="blocker"} 1.0'
    ) in exposition
    checked = promtool("check", "metrics", text=exposition)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    for name in (PASSING, FAILING):  # verify --metrics: the same names, as clean
        textfile = (fleet.parent / "metrics" / f"{name}.prom").read_text()
        assert names(textfile) == names(exposition) - {"deploycheck_archive_readable"}
        assert f'deploycheck_last_run_timestamp_seconds{{profile="{name}"}}' in textfile
        checked = promtool("check", "metrics", text=textfile)
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_promtool_would_name_a_metric_against_the_conventions(exposition) -> None:
    """The check above can fail: a counter without _total is named."""
    broken = (
        exposition + "# HELP deploycheck_runs Runs\n# TYPE deploycheck_runs counter\ndeploycheck_runs 3\n"
    )
    checked = promtool("check", "metrics", text=broken)
    assert checked.returncode != 0 and "deploycheck_runs" in checked.stdout + checked.stderr


def test_the_shipped_rules_configs_and_their_unit_tests_pass_promtool_and_amtool() -> None:
    for args in (
        ("check", "rules", "deploycheck.rules.yml"),
        ("test", "rules", "deploycheck.rules.test.yml"),
        ("check", "config", "prometheus.yml"),
    ):
        checked = promtool(*args)
        assert checked.returncode == 0, (args, checked.stdout + checked.stderr)
    alertmanager = subprocess.run(
        ["amtool", "check-config", "alertmanager.yml"],
        capture_output=True,
        text=True,
        cwd=EXAMPLES,
        timeout=60,
    )
    assert alertmanager.returncode == 0, alertmanager.stdout + alertmanager.stderr


def test_the_rule_unit_tests_fail_when_a_rule_breaks(tmp_path) -> None:
    """A blocker rule that looks at warnings instead is caught by the unit tests."""
    rules = (EXAMPLES / "deploycheck.rules.yml").read_text()
    (tmp_path / "deploycheck.rules.yml").write_text(
        rules.replace('{severity="blocker"} == 0', '{severity="warning"} == 0')
    )
    shutil.copy(EXAMPLES / "deploycheck.rules.test.yml", tmp_path)
    checked = subprocess.run(
        [PROMTOOL, "test", "rules", "deploycheck.rules.test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode != 0 and "DeploycheckBlockerFailed" in checked.stdout + checked.stderr


def dashboard_names(dashboard: dict) -> set[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return set(re.findall(r"\bdeploycheck_[a-z_]+\b", " ".join(exprs)))


def test_every_metric_the_grafana_dashboard_names_is_in_the_exposition(exposition) -> None:
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    used = dashboard_names(dashboard)
    assert len(used) >= 10 and used <= names(exposition), used - names(exposition)
    dashboard["panels"][0]["targets"][0]["expr"] = "deploycheck_last_run_exitcode"  # a typo
    assert dashboard_names(dashboard) - names(exposition) == {"deploycheck_last_run_exitcode"}


# -- a real Prometheus and Alertmanager ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A webhook receiver on loopback: its URL and the JSON bodies posted to it."""
    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/deploycheck", received
    server.shutdown()
    server.server_close()


@pytest.fixture()
def monitoring(tmp_path) -> Iterator[list[tuple[str, subprocess.Popen[bytes], Path]]]:
    """Processes started by the test (name, process, log); stopped and their folders removed."""
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    yield started
    for _, proc, _ in started:
        proc.terminate()
    for _, proc, _ in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for folder in ("prometheus", "alertmanager"):
        shutil.rmtree(tmp_path / folder, ignore_errors=True)


def _start(started: list, name: str, folder: Path, *command: str) -> None:
    folder.mkdir()
    log = folder / "log"
    with log.open("wb") as out:
        started.append(
            (name, subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder), log)
        )


def _logs(started: list) -> str:
    return "\n".join(f"--- {name}\n{log.read_text()[-3000:]}" for name, _, log in started if log.exists())


def test_prometheus_fires_the_failing_targets_alert_and_alertmanager_posts_it(
    fleet, tmp_path, monitoring, webhook
) -> None:
    hook_url, received = webhook
    am_port, prom_port = _free_port(), _free_port()
    routes = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text())
    for receiver in routes["receivers"]:
        for config in receiver.get("webhook_configs", []):
            config["url"] = hook_url
    routes["route"].update(group_wait="1s", group_interval="1s")  # the example waits 30 s to group
    with serving("--reports", str(fleet)) as serve_url:
        scrape = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
        scrape["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        scrape["rule_files"] = [str(EXAMPLES / "deploycheck.rules.yml")]  # as shipped
        scrape["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
        scrape["scrape_configs"][0]["static_configs"][0]["targets"] = [serve_url.removeprefix("http://")]
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(routes))
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(scrape))
        _start(
            monitoring,
            "alertmanager",
            tmp_path / "alertmanager",
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'alertmanager' / 'data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # no gossip with peers
        )
        _start(
            monitoring,
            "prometheus",
            tmp_path / "prometheus",
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prometheus' / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        )
        deadline = time.monotonic() + WAIT_S
        firing: list[dict] = []
        while time.monotonic() < deadline and not (firing and received):
            time.sleep(0.5)
            for _, proc, _ in monitoring:
                assert proc.poll() is None, _logs(monitoring)
            try:
                alerts = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/alerts", timeout=5).json()["data"][
                    "alerts"
                ]
            except httpx.HTTPError:
                continue  # still starting
            firing = [a for a in alerts if a["state"] == "firing"]
        assert firing, _logs(monitoring)
        assert {(a["labels"]["alertname"], a["labels"]["profile"]) for a in firing} == {
            ("DeploycheckBlockerFailed", FAILING)
        }
        assert firing[0]["labels"]["check"] == "checks/test_http.py::test_endpoint_answers[home]"
        up = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": "up"}).json()
        assert [r["value"][1] for r in up["data"]["result"]] == ["1"]
        assert received, "Alertmanager posted nothing to the webhook\n" + _logs(monitoring)
        posted = [alert for message in received for alert in message["alerts"]]
        assert {(a["status"], a["labels"]["alertname"], a["labels"]["profile"]) for a in posted} == {
            ("firing", "DeploycheckBlockerFailed", FAILING)
        }
        assert (
            "blocker checks/test_http.py::test_endpoint_answers[home] failed"
            in posted[0]["annotations"]["summary"]
        )
