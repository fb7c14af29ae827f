"""Secret masking (runner/redact.py), the one place every writer and the server use: values
masked before they are encoded, and secrets found again in what JSON, HTML, XML and Prometheus
wrote, for secrets that hold quotes, backslashes, non-ASCII and regex characters."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
import pytest
import yaml
from markupsafe import escape
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from runner.profile.loader import load_profile
from runner.redact import MASK, Redactor
from runner.report.archive import publish, staging_dir
from runner.report.metrics import exposition
from runner.report.model import CheckResult, RunReport
from runner.serve.app import Dashboard, serve

HOSTILE = [
    'Pa"ss\\word',  # a quote and a backslash: JSON writes \" and \\
    "pässwörd-ünïcode",  # non-ASCII: JSON writes \u00e4 by default
    "a.b*c+(d)?[e]|$^",  # regex characters
    "<tag>&'amp'",  # HTML and XML escape all of these
    "line\nbreak\ttab",  # control characters
]


def _redactor() -> Redactor:
    redactor = Redactor()
    redactor.add(*HOSTILE)
    return redactor


def _encodings(secret: str) -> dict[str, str]:
    """The secret as each format deploycheck writes puts it on the page."""
    element = ET.Element("property", value=secret)
    element.text = secret
    registry = CollectorRegistry()
    Gauge("g", "h", ["check"], registry=registry).labels(secret).set(1)
    return {
        "json": json.dumps({"message": secret}),
        "json-utf8": json.dumps({"message": secret}, ensure_ascii=False),
        "html": f"<p title='{html.escape(secret)}'>{html.escape(secret, quote=False)}</p>",
        "jinja": f'<p title="{escape(secret)}">{escape(secret)}</p>',
        "xml": ET.tostring(element, encoding="unicode"),
        "json-in-html": str(escape(json.dumps(secret))),
        "prometheus": generate_latest(registry).decode(),
    }


@pytest.mark.parametrize("secret", HOSTILE)
def test_a_secret_is_found_in_every_encoding(secret: str) -> None:
    redactor = _redactor()
    for name, text in _encodings(secret).items():
        masked = redactor.mask(text)
        assert MASK in masked, name
        for fragment in (secret, json.dumps(secret)[1:-1], html.escape(secret)):
            assert fragment not in masked, name


@pytest.mark.parametrize("secret", HOSTILE)
def test_values_are_masked_before_they_are_encoded(secret: str) -> None:
    data = {"checks": [{"message": f"login as {secret} refused", secret: (1, secret)}], "n": 3}
    masked = _redactor().mask_data(data)
    assert masked == {"checks": [{"message": f"login as {MASK} refused", MASK: [1, MASK]}], "n": 3}


@pytest.mark.parametrize(
    "kind", ["application/json", "application/xml", "text/html; charset=utf-8", "text/plain; version=0.0.4"]
)
@pytest.mark.parametrize("secret", HOSTILE)
def test_a_served_body_is_masked_whatever_its_type(secret: str, kind: str) -> None:
    redactor = _redactor()
    encoded = _encodings(secret)
    body = {
        "application/json": encoded["json"],
        "application/xml": encoded["xml"],
        "text/html; charset=utf-8": encoded["jinja"],
        "text/plain; version=0.0.4": encoded["prometheus"],
    }[kind].encode()
    served = redactor.mask_body(body, kind)
    assert MASK.encode() in served
    for form in (secret, json.dumps(secret)[1:-1], html.escape(secret), str(escape(secret))):
        assert form.encode() not in served


def test_a_body_that_is_not_utf8_keeps_its_bytes_and_loses_its_secret() -> None:
    body = b"\xff\xfe latin1 \xe9 " + b'Pa"ss\\word'
    assert _redactor().mask_body(body, "text/html") == b"\xff\xfe latin1 \xe9 " + MASK.encode()


def test_cut_json_is_masked_as_text_and_binary_is_left_alone() -> None:
    redactor = _redactor()
    assert redactor.mask_body(b'{"m": "Pa\\"ss\\\\word', "application/json") == b'{"m": "' + MASK.encode()
    icon = b'\x00\x01Pa"ss\\word'
    assert redactor.mask_body(icon, "image/x-icon") == icon


def test_the_server_masks_every_route_and_archived_file(tmp_path) -> None:
    """An archived run holding a secret the server's profile names (a quote, a backslash and
    non-ASCII in it), as a run that did not know it wrote it: report.json, junit.xml,
    details.html, report.html, /metrics, the API and the dashboard all answer without it, in any
    encoding."""
    secret = 'Srv-"P\u00e4\\ss"-(x)+'
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump({"database": {"user": "u", "name": "d", "password": secret}}))
    reports = tmp_path / "reports"
    run = RunReport("p", "production", datetime.now(UTC))
    run.checks = [
        CheckResult(f"checks/test_x.py::test_y[{secret}]", "x", "t", "blocker", "failed", 0.1, secret)
    ]
    staged = staging_dir(reports, "p")
    report = run.write_json(staged / "report.json", lambda data: data)  # unmasked
    label = secret.replace("\\", "\\\\").replace('"', '\\"')
    assert label in exposition([report]).decode()  # what /metrics would show unmasked
    encoded = _encodings(secret)
    (staged / "junit.xml").write_text(encoded["xml"])
    (staged / "details.html").write_text(encoded["jinja"])
    (staged / "report.html").write_text(encoded["html"])
    folder = publish(staged, report)
    running = serve(Dashboard(load_profile(str(path)), reports), "127.0.0.1", 0, None)
    base = f"http://127.0.0.1:{running.server_address[1]}"
    files = [
        f"/archive/{folder.name}/{name}"
        for name in ("report.json", "junit.xml", "details.html", "report.html")
    ]
    try:
        answers = {
            route: httpx.get(base + route, timeout=30)
            for route in ["/", "/api/runs/latest", "/metrics", *files]
        }
    finally:
        running.shutdown()
        running.server_close()
    forms = {
        secret,
        label,
        json.dumps(secret)[1:-1],
        html.escape(secret),
        str(escape(secret)),
        "P\u00e4\\\\ss",
    }
    for route, answer in answers.items():
        assert answer.status_code == 200, route
        for form in forms:
            assert form not in answer.text, (route, form)
    assert MASK in answers["/api/runs/latest"].json()["checks"][0]["message"]
    assert MASK in answers["/metrics"].text and MASK in answers[files[1]].text


def test_a_secret_that_is_one_of_the_reports_words_does_not_change_what_is_served(tmp_path) -> None:
    """`password: pass` in a dev profile: the served report and /metrics still say the check
    passed (masked, `passed` read `********ed` and /metrics said the check was not ok)."""
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump({"database": {"user": "u", "name": "d", "password": "pass"}}))
    reports = tmp_path / "reports"
    run = RunReport("p", "production", datetime.now(UTC))
    run.checks = [CheckResult("checks/test_x.py::test_y", "x", "t", "blocker", "passed", 0.1, "")]
    staged = staging_dir(reports, "p")
    publish(staged, run.write_json(staged / "report.json", lambda data: data))
    running = serve(Dashboard(load_profile(str(path)), reports), "127.0.0.1", 0, None)
    base = f"http://127.0.0.1:{running.server_address[1]}"
    try:
        latest = httpx.get(base + "/api/runs/latest", timeout=30).json()
        metrics = httpx.get(base + "/metrics", timeout=30).text
    finally:
        running.shutdown()
        running.server_close()
    assert latest["outcome"] == "passed" and latest["summary"]["passed"] == 1
    assert latest["checks"][0]["outcome"] == "passed"
    assert (
        'deploycheck_check_ok{area="x",check="checks/test_x.py::test_y",profile="p",severity="blocker"} 1.0'
        in metrics
        and 'deploycheck_last_run_outcome{outcome="passed",profile="p"} 1.0' in metrics
    )


@pytest.mark.parametrize("secret", ["abc", "x9", "é1ü", "a'c"])
def test_a_short_secret_is_masked_where_it_stands_alone(secret: str) -> None:
    """A dev password under four characters was never masked: now it is, wherever no letter or
    digit adjoins it, in every format deploycheck writes; inside a longer word it is text."""
    redactor = Redactor()
    redactor.add(secret)
    escaped = json.dumps(secret)[1:-1]
    for kind, document in _encodings(secret).items():
        masked = redactor.mask(document)
        assert MASK in masked and secret not in html.unescape(masked) and escaped not in masked, kind
    for text in (f"password={secret}", f"'{secret}' at", f"({secret})", f"{secret}_x", f"\n{secret}\n"):
        assert secret not in redactor.mask(text), text
    for word in (f"{secret}d", f"t{secret}", f"1{secret}2"):
        assert redactor.mask(word) == word


def test_a_short_secret_inside_a_longer_one_leaks_no_part_of_it() -> None:
    """Longest first, by the secret's own length: `abc-xyz1` is masked whole, not as `abc` and a
    visible `-xyz1`."""
    redactor = Redactor()
    redactor.add("abc", "abc-xyz1")
    assert redactor.mask("login abc-xyz1 failed; abc") == f"login {MASK} failed; {MASK}"


def test_a_secret_inside_one_of_the_reports_words_leaves_the_word_in_text_and_pages() -> None:
    """Pages and logs are masked as text: `passed` stayed `********ed` under a password `pass`.
    The word stays; the secret standing alone, or inside any other word, is still masked."""
    redactor = Redactor()
    redactor.add("pass", "error")
    text = "3 passed, 1 PASSED; password=pass; errors: error"
    assert redactor.mask(text) == f"3 passed, 1 PASSED; {MASK}word={MASK}; errors: {MASK}"
    page = redactor.mask_body(b"<td class='passed'>passed</td><p>pass</p>", "text/html; charset=utf-8")
    assert page == f"<td class='passed'>passed</td><p>{MASK}</p>".encode()


def test_a_secret_kept_inside_one_of_the_reports_words_hides_no_other_secret() -> None:
    """Each secret is looked for at every position: `pass` left as text in `passed` used to take
    `ss` from the search, and a token `assed-Tok3n` went out whole."""
    redactor = Redactor()
    redactor.add("pass", "assed-Tok3n", "ab12", "12cd99")
    assert redactor.mask("3 passed; passed-Tok3n; ab12cd99") == f"3 passed; p{MASK}; {MASK}"
