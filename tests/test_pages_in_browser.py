"""The pages a person opens, in a real browser (Debian's chromium driven by Playwright): the
dashboard shows the verdict and what broke, its history links open the archived report, and
no page logs a console error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.profile.loader import load_profile
from runner.serve.app import Dashboard, Site, serve
from runner.serve.targets import find_targets
from tests.fleet import archive_two_targets
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


def console_errors(page) -> list[str]:
    """What the page logs as an error or throws, collected as it happens: a page must log none."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_dashboard_names_what_broke_and_links_the_report(archived, browser, tmp_path) -> None:  # noqa: F811
    running = serve(
        Dashboard(load_profile(str(archived.profile_path)), archived.reports), "127.0.0.1", 0, None
    )
    url = f"http://127.0.0.1:{running.server_address[1]}/"
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = console_errors(page)
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


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Path:
    """report.html of a demo run with a stale backup (one demo for the tests that read it)."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("demo")
    reports = folder / "reports"
    subprocess.run(
        [sys.executable, "-m", "runner", "demo", "--break", "stale-backup", "--reports", str(reports)],
        capture_output=True,
        timeout=300,
        cwd=folder,
    )
    (report,) = reports.glob("demo/*/report.html")
    return report


def test_the_demo_report_draws_its_charts(demo_report, browser) -> None:
    """A report with backups and certificates: the size and days-left charts are real SVG with
    a size on the page, and the page logs no console error."""
    report = demo_report
    page = browser.new_page()
    errors = console_errors(page)
    page.goto(report.as_uri())
    checks = json.loads((report.parent / "report.json").read_text())["checks"]
    broken = {c["id"]: c["message"] for c in checks if c["outcome"] not in ("passed", "skipped")}
    assert page.inner_text("h1").startswith(
        "Gate: FAILED (exit 1): 1 blocker(s): test_backup_is_fresh[catalogue]"
    ), broken  # a check that broke besides the fault says why (one CI run saw the journey fail)
    charts = page.locator("#charts svg")
    assert charts.count() == 2
    for index in range(2):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
        assert charts.nth(index).locator("polyline, rect").count() >= 1
    assert "fails below" in page.inner_text("#charts") and "test_backup_is_fresh" in page.inner_text(
        "#attention"
    )
    assert "XFailed" not in page.inner_text("body")
    body = page.inner_text("body")
    assert "Mail journeys" in body and "test_mail_journey[password-reset]" in body
    assert errors == []


WIDTHS = (1300, 400)  # a laptop and a phone


def _fits(page) -> None:
    """Nothing wider than the window: a phone user does not scroll sideways to read a row."""
    __tracebackhide__ = True
    width = page.viewport_size["width"]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width


def _one_line(locator) -> None:
    __tracebackhide__ = True
    for index in range(locator.count()):
        box = locator.nth(index).bounding_box()
        assert box is not None and box["height"] < 30, locator.nth(index).inner_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_and_index_show_times_people_read_at_any_width(tmp_path, browser, width) -> None:
    import re

    from tests.test_archive_damaged import archive_of

    (tmp_path / "p.yml").write_text("target: t\n")
    archive_of(tmp_path / "reports", 3)
    running = serve(
        Dashboard(load_profile(str(tmp_path / "p.yml")), tmp_path / "reports"), "127.0.0.1", 0, None
    )
    url = f"http://127.0.0.1:{running.server_address[1]}/"
    try:
        page = browser.new_page(viewport={"width": width, "height": 900})
        for address, times in ((url, "#history td.when"), (url + "archive/index.html", "td.when")):
            page.goto(address)
            page.screenshot(path=str(tmp_path / f"page{width}.png"), full_page=True)
            text = page.inner_text("body")
            assert "2026-01-01 02:00:00 UTC" in text and not re.search(r"\dT\d\d:\d\d|\.\d{6}", text)
            assert page.locator(times).count() == 3
            _one_line(page.locator(times))
            _fits(page)
        page.goto(url)
        legend = page.inner_text("#history .legend")
        assert "passed" in legend and "failed" in legend and "error" in legend and "newest right" in legend
    finally:
        running.shutdown()
        running.server_close()


def test_the_demo_charts_have_axes_apart_labels_and_a_gap_at_any_width(
    demo_report, browser, tmp_path
) -> None:
    """The backup-size axis runs to the run's time, so days without a backup show; the days-left
    chart has an axis and its fail and warn labels do not overlap; at a phone's width too."""
    import json

    report = demo_report
    finished = json.loads((report.parent / "report.json").read_text())["finished_at"][:10]
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(report.as_uri())
        page.locator("#charts").screenshot(path=str(tmp_path / f"charts{width}.png"))
        sizes, days = page.locator("#charts svg").nth(0), page.locator("#charts svg").nth(1)
        assert finished in sizes.text_content() and "no backup for" in sizes.text_content()
        fail = days.locator("text", has_text="fail below").bounding_box()
        warn = days.locator("text", has_text="warn below").bounding_box()
        assert fail and warn
        apart = (
            fail["y"] + fail["height"] <= warn["y"]
            or warn["y"] + warn["height"] <= fail["y"]
            or fail["x"] + fail["width"] <= warn["x"]
            or warn["x"] + warn["width"] <= fail["x"]
        )
        assert apart, (fail, warn)
        assert days.locator("text", has_text="0 d").count() >= 1 and "until expiry" in days.text_content()
        for index in range(2):
            box = page.locator("#charts svg").nth(index).bounding_box()
            assert box and box["x"] + box["width"] <= width
        assert "error" in page.inner_text("#charts .legend")
        _fits(page)
        page.close()


def test_the_overview_of_several_targets_links_each_dashboard_and_back(tmp_path, browser) -> None:
    """`serve` over two targets' real archives: the overview shows each verdict and what needs
    attention, its link opens the failing target's dashboard, whose links stay under /t/NAME/,
    and the dashboard links back."""
    reports = archive_two_targets(tmp_path / "site")
    running = serve(Site(find_targets(reports, [])[0]), "127.0.0.1", 0, None)
    url = f"http://127.0.0.1:{running.server_address[1]}/"
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = console_errors(page)
        page.goto(url)
        assert page.locator("#targets tr[data-target]").count() == 2
        blog = page.inner_text("tr[data-target='blog']")
        assert "FAILED (exit 1)" in blog and "test_endpoint_answers[home]" in blog
        assert "PASSED (exit 0)" in page.inner_text("tr[data-target='shop']")
        _fits(page)
        page.click("tr[data-target='blog'] a")
        page.wait_for_load_state()
        assert page.url == url + "t/blog/"
        assert page.inner_text("#verdict").startswith("FAILED (exit 1)")
        assert "test_endpoint_answers[home]" in page.inner_text("#attention")
        page.click("#history table a >> nth=0")  # the run's report, from the target's archive
        page.wait_for_load_state()
        assert page.url.startswith(url + "t/blog/archive/") and "Gate: FAILED (exit 1)" in page.inner_text(
            "body"
        )
        page.go_back()
        page.click("#overview")
        page.wait_for_load_state()
        assert page.url == url and page.locator("#targets").count() == 1
    finally:
        running.shutdown()
        running.server_close()
    assert errors == []
