"""The pages a person opens, in a real browser (Debian's chromium driven by Playwright): the
dashboard shows the verdict and what broke, its history links open the archived report, and
no page logs a console error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.profile.loader import load_profile
from runner.serve.app import Dashboard, serve
from tests.test_serve import archived  # noqa: F401 - the fixture: a passing and a failing run

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture()
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found: install it (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def test_the_dashboard_names_what_broke_and_links_the_report(archived, browser, tmp_path) -> None:  # noqa: F811
    running = serve(
        Dashboard(load_profile(str(archived.profile_path)), archived.reports), "127.0.0.1", 0, None
    )
    url = f"http://127.0.0.1:{running.server_address[1]}/"
    errors: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        assert page.inner_text("#verdict").startswith("FAILED (exit 1)")
        assert "test_nothing_pending" in page.inner_text("#attention") and "V2__new.sql" in page.inner_text(
            "#attention"
        )
        assert page.locator(".strip span").count() == 2
        assert "V1__t.sql" in page.inner_text("#migrations")
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        page.click("#history table a >> nth=0")  # the newest run's report
        page.wait_for_load_state()
        assert "Gate: FAILED (exit 1)" in page.inner_text("body")
        assert "pending migrations" in page.inner_text("body")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        page.goto(url + "archive/index.html")
        assert page.locator("a[href$='report.html']").count() == 2
    finally:
        running.shutdown()
        running.server_close()
    assert errors == []
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_the_demo_report_draws_its_charts(tmp_path, browser) -> None:
    """A report with backups and certificates: the size and days-left charts are real SVG with
    a size on the page, and the page logs no console error."""
    import subprocess
    import sys

    reports = tmp_path / "reports"
    subprocess.run(
        [sys.executable, "-m", "runner", "demo", "--break", "stale-backup", "--reports", str(reports)],
        capture_output=True,
        timeout=300,
        cwd=tmp_path,
    )
    (report,) = reports.glob("demo/*/report.html")
    errors: list[str] = []
    page = browser.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(report.as_uri())
    assert page.inner_text("h1").startswith(
        "Gate: FAILED (exit 1): 1 blocker(s): test_backup_is_fresh[catalogue]"
    )
    charts = page.locator("#charts svg")
    assert charts.count() == 2
    for index in range(2):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
        assert charts.nth(index).locator("polyline, rect").count() >= 1
    assert "fails below" in page.inner_text("#charts") and "warned" in page.inner_text("#attention")
    assert "XFailed" not in page.inner_text("body")
    body = page.inner_text("body")
    assert "Mail journeys" in body and "test_mail_journey[password-reset]" in body
    assert errors == []
