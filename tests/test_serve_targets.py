"""`deploycheck serve` over several targets: the overview, each target under /t/NAME/,
/api/targets, /metrics for all, profiles found beside the archive (or not, and saying so), the
single-profile URLs kept, and the protections of one target held for every target: Host names,
the token, masking, damaged archives, and target names in the URL that try to leave the archive."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from runner.serve.app import Site, serve
from runner.serve.targets import find_targets
from tests.conftest import deploycheck
from tests.fleet import FAILING, PASSING, archive_two_targets, serving
from tests.test_prometheus import promtool
from tests.test_serve_hostile import get, raw

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    return archive_two_targets(tmp_path_factory.mktemp("fleet"))


@pytest.fixture()
def reports(fleet, tmp_path) -> Path:
    """A copy of the two targets' archive and profiles the test may change."""
    shutil.copytree(fleet.parent, tmp_path / "site", symlinks=True)
    return tmp_path / "site" / "reports"


@contextmanager
def site(reports: Path, *profiles: str) -> Iterator[tuple[str, int]]:
    """An in-process server over `reports` as `deploycheck serve` builds it; (URL, port)."""
    dashboards, _ = find_targets(reports, list(profiles))
    server = serve(Site(dashboards), "127.0.0.1", 0, None)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_overview_lists_every_archived_target_and_links_its_dashboard(fleet) -> None:
    with serving("--reports", str(fleet)) as url:
        page = httpx.get(f"{url}/").text
        assert 'href="t/blog/"' in page and 'href="t/shop/"' in page
        blog_row = page.split('data-target="blog"', 1)[1].split("</tr>", 1)[0]
        assert (
            "FAILED (exit 1)" in blog_row
            and "test_endpoint_answers[home]" in blog_row
            and "min ago" in blog_row
        )
        shop_row = page.split('data-target="shop"', 1)[1].split("</tr>", 1)[0]
        assert "PASSED (exit 0)" in shop_row and "nothing" in shop_row
        targets = httpx.get(f"{url}/api/targets").json()
        assert [(t["name"], t["outcome"], t["exit_code"], t["live"]) for t in targets] == [
            (FAILING, "failed", 1, True),
            (PASSING, "passed", 0, True),
        ]
        assert targets[0]["attention"] == [
            {
                "id": "checks/test_http.py::test_endpoint_answers[home]",
                "area": "http",
                "severity": "blocker",
                "outcome": "failed",
            }
        ]
        assert 0 <= targets[0]["age_s"] < 600 and targets[0]["dashboard"] == "/t/blog/"
        dashboard = httpx.get(f"{url}/t/blog/").text
        assert 'id="verdict">FAILED (exit 1)' in dashboard and 'href="../../"' in dashboard
        report = dashboard.split('href="archive/', 1)[1].split('"', 1)[0]
        assert "Gate: FAILED" in httpx.get(f"{url}/t/blog/archive/{report}").text
        assert httpx.get(f"{url}/t/shop/api/runs/latest").json()["outcome"] == "passed"
        assert httpx.get(f"{url}/t/blog/api/runs").json()["runs"][0]["outcome"] == "failed"
        moved = httpx.get(f"{url}/t/shop")
        assert moved.status_code == 308 and moved.headers["Location"] == "shop/"
        assert httpx.get(f"{url}/t/shop", follow_redirects=True).url.path == "/t/shop/"
        # with several targets, a target's route at the root says where it went
        root = httpx.get(f"{url}/api/runs/latest")
        assert root.status_code == 404 and "/t/NAME/" in root.text
        metrics = httpx.get(f"{url}/metrics").text
        assert 'deploycheck_last_run_exit_code{profile="blog"} 1.0' in metrics
        assert 'deploycheck_last_run_exit_code{profile="shop"} 0.0' in metrics
        assert metrics.count("# TYPE deploycheck_last_run_exit_code gauge") == 1
        assert httpx.get(f"{url}/healthz").text == "ok\n"


def test_one_profile_keeps_the_single_target_urls(fleet) -> None:
    with serving("--profile", str(fleet.parent / "profiles" / "shop.yml"), "--reports", str(fleet)) as url:
        assert 'id="verdict">PASSED (exit 0)' in httpx.get(f"{url}/").text
        assert 'href="../../"' not in httpx.get(f"{url}/").text  # no overview to go back to
        assert httpx.get(f"{url}/api/runs/latest").json()["profile"] == "shop"
        assert httpx.get(f"{url}/t/shop/api/runs/latest").json()["profile"] == "shop"
        assert httpx.get(f"{url}/t/blog/").status_code == 404  # archived, but not given
        assert "blog" not in httpx.get(f"{url}/metrics").text
        assert [t["name"] for t in httpx.get(f"{url}/api/targets").json()] == ["shop"]


def test_profiles_given_are_the_targets_archived_or_not(fleet, tmp_path) -> None:
    (tmp_path / "new.yml").write_text("target: new\n")
    profiles = fleet.parent / "profiles"
    with site(fleet, str(profiles / "blog.yml"), str(tmp_path / "new.yml")) as (url, _):
        assert [t["name"] for t in httpx.get(f"{url}/api/targets").json()] == ["blog", "new"]
        assert "no run archived" in httpx.get(f"{url}/").text
        assert "No run archived yet" in httpx.get(f"{url}/t/new/").text


def test_a_target_without_a_profile_shows_its_archived_runs_only_and_says_so(reports) -> None:
    """blog's profile is gone: its archive only. shop's profile beside the archive names a backup
    folder: its live backups panel is read from there."""
    (reports.parent / "profiles" / "blog.yml").unlink()
    (reports.parent / "backups").mkdir()
    (reports.parent / "backups" / "app-20260101-030000.sql.gz").write_bytes(b"")
    shop = reports.parent / "profiles" / "shop.yml"
    shop.write_text(shop.read_text() + "backups: {source: ../backups}\n")
    with site(reports) as (url, _):
        backups = httpx.get(f"{url}/t/shop/api/backups")
        assert backups.status_code == 200 and backups.json()["directory"].endswith("backups")
        assert 'id="backups"' in httpx.get(f"{url}/t/shop/").text
        blog, shop = httpx.get(f"{url}/api/targets").json()
        assert (blog["live"], shop["live"]) == (False, True)
        assert "archived runs only" in blog["note"] and "profiles/blog.yml" in blog["note"]
        page = httpx.get(f"{url}/t/blog/").text
        assert 'id="archived-only"' in page and 'id="verdict">FAILED (exit 1)' in page
        missing = httpx.get(f"{url}/t/blog/api/migrations")
        assert missing.status_code == 404 and "archived runs only" in missing.json()["error"]
        assert "archived runs only" in httpx.get(f"{url}/").text


def test_a_profile_beside_the_archive_that_does_not_load_is_named_and_the_rest_is_served(reports) -> None:
    (reports.parent / "profiles" / "blog.yml").write_text("target: blog\nhttp: [{nonsense: 1}]\n")
    with serving("--reports", str(reports)) as url:
        blog = httpx.get(f"{url}/api/targets").json()[0]
        assert blog["outcome"] == "failed" and "does not load" in blog["note"] and "blog.yml" in blog["note"]
        assert httpx.get(f"{url}/t/shop/").status_code == 200


def test_serve_refuses_an_empty_archive_and_two_profiles_of_one_name(tmp_path, fleet) -> None:
    empty = deploycheck(
        "serve", "--reports", str(tmp_path / "none"), env={**os.environ, "DEPLOYCHECK_PROFILE": ""}
    )
    assert empty.returncode == 2 and "no archived profile found" in empty.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "shop.yml").write_text("target: other\n")
    twice = deploycheck(
        "serve",
        "--profile",
        str(fleet.parent / "profiles" / "shop.yml"),
        "--profile",
        str(tmp_path / "other" / "shop.yml"),
    )
    assert twice.returncode == 2 and "two profiles are named shop" in twice.stderr


def test_a_damaged_archive_of_one_target_is_named_and_the_other_is_served(reports) -> None:
    (run,) = [p for p in (reports / "blog").iterdir() if p.name.startswith("20")]
    (run / "report.json").write_bytes((run / "report.json").read_bytes()[:100])
    with site(reports) as (url, _):
        metrics = httpx.get(f"{url}/metrics").text
        assert 'deploycheck_archive_readable{profile="blog"} 0.0' in metrics
        assert 'deploycheck_archive_readable{profile="shop"} 1.0' in metrics
        assert 'deploycheck_last_run_exit_code{profile="shop"} 0.0' in metrics
        blog_row = httpx.get(f"{url}/").text.split('data-target="blog"', 1)[1].split("</tr>", 1)[0]
        assert "The archive is damaged" in blog_row and "report.json: cannot be read" in blog_row
        assert httpx.get(f"{url}/t/blog/api/runs/latest").status_code == 503


def _check(report: dict, name: str, **details: str) -> None:
    """The report's HTTP check renamed (keeping its file) with these details."""
    (check,) = [c for c in report["checks"] if c["id"].endswith("::test_endpoint_answers[home]")]
    check["id"] = check["id"].split("::")[0] + "::" + name
    check["details"] = details


@pytest.mark.parametrize(
    "edit, reason",
    [
        (
            lambda r: _check(r, "test_nothing_pending", pending="not-a-number"),
            "details.pending of test_nothing_pending is not a number",
        ),
        (
            lambda r: _check(r, "test_certificates_are_valid_now[https://x]", expires_at="soon"),
            "details.expires_at of test_certificates_are_valid_now[https://x] is not an ISO time",
        ),
        (lambda r: _check(r, "test_endpoint_answers[\ud800]"), "a lone surrogate"),
        (lambda r: r.update(target="blog\ud800"), "a lone surrogate"),
    ],
    ids=["pending", "expires_at", "surrogate-check", "surrogate-target"],
)
def test_a_report_json_the_metrics_cannot_show_is_damage_of_its_target_alone(reports, edit, reason) -> None:
    """Hostile input: a details value not as deploycheck writes it, or a lone surrogate (a valid
    JSON escape no answer can encode), in one target's newest report.json made /metrics and the
    overview answer 500 for every target; now that run is unreadable and the other is served."""
    (run,) = [p for p in (reports / "blog").iterdir() if p.name.startswith("20")]
    report = json.loads((run / "report.json").read_text())
    edit(report)
    (run / "report.json").write_text(json.dumps(report))  # a surrogate as the escape \\ud800
    with site(reports) as (url, _):
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200, metrics.text
        assert 'deploycheck_archive_readable{profile="blog"} 0.0' in metrics.text
        assert 'deploycheck_last_run_exit_code{profile="shop"} 0.0' in metrics.text
        checked = promtool("check", "metrics", text=metrics.text)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        overview = httpx.get(f"{url}/")
        assert overview.status_code == 200, overview.text
        blog_row = overview.text.split('data-target="blog"', 1)[1].split("</tr>", 1)[0]
        assert "report.json: cannot be read" in blog_row and reason in blog_row
        assert httpx.get(f"{url}/api/targets").status_code == 200
        assert httpx.get(f"{url}/t/blog/").status_code == 200


# -- hostile: names that try to leave the archive, foreign hosts, tokens, secrets ---------------


@pytest.fixture()
def planted(reports, tmp_path) -> Path:
    """An archive outside the root, reachable only through links planted in the root: a linked
    profile folder, and a real folder whose history.jsonl links out."""
    outside = tmp_path / "outside"
    shutil.copytree(reports / "shop", outside / "secretapp")
    (outside / "secretapp" / "history.jsonl").write_text(
        (outside / "secretapp" / "history.jsonl")
        .read_text()
        .replace('"passed"', '"passed", "planted": "OUTSIDE-MARK"')
    )
    (reports / "linked").symlink_to(outside / "secretapp", target_is_directory=True)
    (reports / "halflinked").mkdir()
    (reports / "halflinked" / "history.jsonl").symlink_to(outside / "secretapp" / "history.jsonl")
    return reports


@pytest.mark.parametrize(
    "path",
    [
        "/t/../",
        "/t/%2e%2e/",
        "/t/%2E%2E/api/runs",
        "/t/../../etc/passwd",
        "/t/..%2f..%2fetc/",
        "/t/./",
        "/t/",
        "/t//",
        "/t/linked/",
        "/t/linked/api/runs",
        "/t/halflinked/api/runs",
        "/t/nobody/",
        "/t/shop/../blog/api/runs",
        "/t/shop/archive/../../../etc/passwd",
        "/t/shop/archive/%2e%2e/%2e%2e/linked/history.jsonl",
        "/t/shop/%2e%2e/linked/api/runs",
    ],
)
def test_a_target_name_that_leaves_the_archive_gets_404_and_nothing_outside(planted, path) -> None:
    with site(planted) as (_, port):
        status, body, _ = raw(port, get(path))
        assert status == 404, (path, status, body[:200])
        assert b"OUTSIDE-MARK" not in body
        for listing in ("/api/targets", "/", "/metrics"):
            _, body, _ = raw(port, get(listing))
            assert b"OUTSIDE-MARK" not in body and b"linked" not in body


def test_every_target_wants_the_host_and_the_token(reports) -> None:
    token_file = reports.parent / "token"
    token_file.write_text("Fleet-Token-Secret-7\n")
    for name in ("shop", "blog"):
        path = reports.parent / "profiles" / f"{name}.yml"
        path.write_text(path.read_text() + f"serve: {{token_file: {token_file}}}\n")
    with serving("--reports", str(reports)) as url:
        port = int(url.rsplit(":", 1)[1])
        for path in ("/", "/t/blog/", "/t/shop/api/runs/latest", "/metrics", "/api/targets"):
            assert raw(port, get(path))[0] == 401
            assert raw(port, get(path, "127.0.0.1", "Authorization: Bearer Fleet-Token-Secret-7"))[0] == 200
            assert (
                raw(port, get(path, "evil.example", "Authorization: Bearer Fleet-Token-Secret-7"))[0] == 421
            )
        assert raw(port, get("/healthz"))[0] == 200
    other = reports.parent / "other-token"
    other.write_text("Another-Token-Secret-8\n")
    path = reports.parent / "profiles" / "blog.yml"
    path.write_text(path.read_text().replace(str(token_file), str(other)))
    refused = deploycheck("serve", "--reports", str(reports), "--port", "0")
    assert refused.returncode == 2 and "different tokens" in refused.stderr
    assert "Secret" not in refused.stderr


def test_a_secret_of_one_targets_profile_is_masked_in_every_targets_answers(reports) -> None:
    """shop's profile holds a password; blog's archive (written by hand, as a leak would be)
    holds it too: neither blog's API, its dashboard, the overview nor /metrics shows it."""
    secret = "Shop-Db-Pass-42"
    path = reports.parent / "profiles" / "shop.yml"
    path.write_text(
        path.read_text() + f"database: {{host: 127.0.0.1, user: u, name: d, password: '{secret}'}}\n"
    )
    (run,) = [p for p in (reports / "blog").iterdir() if p.name.startswith("20")]
    report = json.loads((run / "report.json").read_text())
    report["checks"][0]["message"] = f"leaked {secret}"
    report["checks"][0]["id"] += f"[{secret}]"
    (run / "report.json").write_text(json.dumps(report))
    with site(reports) as (url, _):
        for route in ("/t/blog/api/runs/latest", "/t/blog/", "/", "/metrics", "/api/targets"):
            answer = httpx.get(f"{url}{route}")
            assert answer.status_code == 200 and secret not in answer.text, route
        assert "leaked" in httpx.get(f"{url}/t/blog/api/runs/latest").text
