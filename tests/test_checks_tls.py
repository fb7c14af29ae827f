"""checks/test_tls.py against local TLS servers with trustme certificates, and aiosmtpd for STARTTLS."""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from runner.errors import ProfileError, TargetUnreachable
from runner.probes import tls as tls_probe
from runner.profile.loader import load_profile
from runner.profile.model import Endpoint, parse_endpoint
from runner.sandbox.mariadb import free_port
from tests.conftest import CHECKS

NOW = datetime.now(UTC)
TLS_CHECKS = [
    "test_certificates_are_valid_now",
    "test_certificates_outlast_fail_days",
    "test_certificates_outlast_warn_days",
    "test_chain_and_host_name_verify",
    "test_key_size_and_protocol",
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = trustme.CA()
    intermediate = root.create_child_ca()
    folder = tmp_path_factory.mktemp("pki")
    root.cert_pem.write_to_path(str(folder / "ca.pem"))
    return root, intermediate, folder / "ca.pem"


def _context(cert_pems: list[bytes], key_pem: bytes, tmp_path, *, old_tls: bool = False) -> ssl.SSLContext:
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(cert_pems))
    key.write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets the server load a weak key the tests need
    if old_tls:  # a server that speaks nothing newer than TLS 1.1 (SECLEVEL=0 lets OpenSSL 3 serve it)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.load_cert_chain(str(chain), str(key))
    return context


@pytest.fixture()
def tls_server(tmp_path) -> Iterator:
    """Starts a TLS server for a given chain; returns its host:port. `start.handshakes`: the
    (protocol, cipher) of each handshake, as the servers saw them."""
    servers = []
    handshakes: list[tuple[str, str]] = []

    def start(cert_pems: list[bytes], key_pem: bytes, *, old_tls: bool = False) -> str:
        context = _context(cert_pems, key_pem, tmp_path, old_tls=old_tls)
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        handshakes.append((tls.version(), tls.cipher()[0]))
                        tls.recv(1)
                except (ssl.SSLError, OSError):
                    conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((stop, thread, listener))
        return f"127.0.0.1:{listener.getsockname()[1]}"

    start.handshakes = handshakes
    yield start
    for stop, thread, listener in servers:
        stop.set()
        thread.join()
        listener.close()


def serve(tls_server, leaf: trustme.LeafCert) -> str:
    """Serve `leaf` with its whole chain; returns host:port."""
    return tls_server([b.bytes() for b in leaf.cert_chain_pems], leaf.private_key_pem.bytes())


def tls_run(target, run_checks, endpoint: str, ca_path):
    target.write_profile(tls={"endpoints": [endpoint], "ca_file": str(ca_path)})
    return run_checks(target.profile_path, "-k", "test_tls")


def outcomes(run) -> dict[str, str]:
    return {name.split("[")[0]: outcome for name, outcome in run.outcomes("tls").items()}


def message(run, check: str) -> str:
    return next(c["message"] for c in run.report["checks"] if f"::{check}[" in c["id"])


def assert_fails(run, check: str, severity: str = "blocker") -> str:
    """The check failed as `severity` (a warning does not fail the run) and the run exits 1; its message."""
    __tracebackhide__ = True
    found = next(c for c in run.report["checks"] if f"::{check}[" in c["id"])
    outcome = "failed" if severity == "blocker" else "warned"
    assert (found["outcome"], found["severity"], run.exit_code) == (outcome, severity, 1)
    return found["message"]


def test_valid_chain_passes(target, run_checks, tls_server, pki) -> None:
    _, intermediate, ca = pki
    leaf = intermediate.issue_cert("127.0.0.1", "localhost")
    run = tls_run(
        target,
        run_checks,
        serve(tls_server, leaf),
        ca,
    )
    assert outcomes(run) == dict.fromkeys(TLS_CHECKS, "passed")
    protocol = next(c for c in run.report["checks"] if "key_size" in c["id"])["details"]["protocol"]
    assert protocol in ("TLSv1.2", "TLSv1.3")


def _described(pem: bytes) -> tuple[str, str, datetime]:
    """A certificate's subject, its dates as the checks write them, and its end, read from the PEM."""
    cert = x509.load_pem_x509_certificate(pem)
    dates = f"valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}"
    return cert.subject.rfc4514_string(), dates, cert.not_valid_after_utc


def check_of(run, check: str) -> dict:
    return next(c for c in run.report["checks"] if f"::{check}[" in c["id"])


def test_a_passing_chain_says_what_each_check_judged(target, run_checks, tls_server, pki) -> None:
    """Each passed check's evidence, exact, and the details the report's chart of days left reads."""
    _, intermediate, ca = pki
    leaf = intermediate.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=100, hours=1))
    (leaf_subject, leaf_dates, leaf_end), (ca_subject, ca_dates, ca_end) = (
        _described(pem.bytes()) for pem in leaf.cert_chain_pems
    )
    assert ca_end > leaf_end  # the leaf is the first to expire
    endpoint = serve(tls_server, leaf)
    run = tls_run(target, run_checks, endpoint, ca)
    assert outcomes(run) == dict.fromkeys(TLS_CHECKS, "passed") and run.exit_code == 0
    valid = check_of(run, "test_certificates_are_valid_now")
    assert valid["message"] == (
        f"2 certificate(s) valid now: {leaf_subject} {leaf_dates}; {ca_subject} {ca_dates}"
    )
    assert valid["details"] == {
        "chain": [f"{leaf_subject} ({leaf_dates})", f"{ca_subject} ({ca_dates})"],
        "expires_at": leaf_end.isoformat(),
        "warn_days": 30,
        "fail_days": 14,
    }
    for key, days in (("fail_days", 14), ("warn_days", 30)):
        head = f"the first certificate to expire, {leaf_subject}, expires {leaf_end:%Y-%m-%d}: "
        text = check_of(run, f"test_certificates_outlast_{key}")["message"]
        assert text.startswith(head) and text.endswith(f" days left, tls.{key} is {days}"), text
        assert text[len(head) :].split(" ")[0] == "100.0"
    assert check_of(run, "test_chain_and_host_name_verify")["message"] == (
        f"{endpoint}: chain and host name 127.0.0.1 verified against tls.ca_file"
    )
    key_check = check_of(run, "test_key_size_and_protocol")
    protocol, cipher = key_check["details"]["protocol"], key_check["details"]["cipher"]
    assert (protocol, cipher) in tls_server.handshakes  # as the server saw it
    assert key_check["details"] == {"protocol": protocol, "cipher": cipher}
    assert key_check["message"] == f"{leaf_subject}: EC 256 key; {protocol} ({cipher})"


def test_without_a_ca_file_the_chain_is_verified_against_the_system_trust_store(
    target, run_checks, tls_server, pki, monkeypatch
) -> None:
    """OpenSSL's default verify paths, which SSL_CERT_FILE points at the test CA here."""
    _, intermediate, ca = pki
    endpoint = serve(tls_server, intermediate.issue_cert("127.0.0.1"))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    target.write_profile(tls={"endpoints": [endpoint]})
    run = run_checks(target.profile_path, "-k", "test_chain_and_host_name_verify")
    assert message(run, "test_chain_and_host_name_verify") == (
        f"{endpoint}: chain and host name 127.0.0.1 verified against the system trust store"
    )
    assert run.exit_code == 0


def test_every_certificate_expiring_soon_is_named_with_its_days_and_date(
    target, run_checks, tls_server, pki
) -> None:
    """A server may send more than its chain: each certificate sent is judged and named, each
    check naming those within its own number of days."""
    root, _, ca = pki
    now = datetime.now(UTC)
    leaves = [
        root.issue_cert(name, not_after=now + timedelta(days=days, hours=1))
        for name, days in (("127.0.0.1", 5), ("later.test", 10), ("latest.test", 20))
    ]
    pems = [leaf.cert_chain_pems[0].bytes() for leaf in leaves]
    named = [
        f"{subject} in {days}.0 days ({end:%Y-%m-%d})"
        for days, (subject, _, end) in zip((5, 10, 20), map(_described, pems), strict=True)
    ]
    run = tls_run(target, run_checks, tls_server(pems, leaves[0].private_key_pem.bytes()), ca)
    assert assert_fails(run, "test_certificates_outlast_fail_days") == (
        f"expires within tls.fail_days (14): {named[0]}; {named[1]}"
    )
    assert assert_fails(run, "test_certificates_outlast_warn_days", "warning") == (
        f"expires within tls.warn_days (30): {named[0]}; {named[1]}; {named[2]}"
    )


def test_an_expired_and_a_not_yet_valid_certificate_are_both_named(
    target, run_checks, tls_server, pki
) -> None:
    """The expired one is the valid-now check's finding; the days-left checks judge the ones
    still to expire."""
    root, _, ca = pki
    now = datetime.now(UTC)
    expired = root.issue_cert(
        "127.0.0.1", not_before=now - timedelta(days=40), not_after=now - timedelta(days=2)
    )
    early = root.issue_cert(
        "early.test", not_before=now + timedelta(days=3), not_after=now + timedelta(days=90)
    )
    pems = [expired.cert_chain_pems[0].bytes(), early.cert_chain_pems[0].bytes()]
    (expired_subject, expired_dates, expired_end), (early_subject, early_dates, _) = map(_described, pems)
    run = tls_run(target, run_checks, tls_server(pems, expired.private_key_pem.bytes()), ca)
    assert assert_fails(run, "test_certificates_are_valid_now") == (
        f"{expired_subject}: expired, {expired_dates}; {early_subject}: not yet valid, {early_dates}"
    )
    assert check_of(run, "test_certificates_are_valid_now")["details"] == {
        "chain": [f"{expired_subject} ({expired_dates})", f"{early_subject} ({early_dates})"],
        "expires_at": expired_end.isoformat(),
        "warn_days": 30,
        "fail_days": 14,
    }
    assert outcomes(run)["test_certificates_outlast_fail_days"] == "passed"
    assert outcomes(run)["test_certificates_outlast_warn_days"] == "passed"


def test_a_named_endpoint_keeps_its_check_ids_when_its_port_changes(
    target, run_checks, tls_server, pki
) -> None:
    _, intermediate, ca = pki
    leaf = intermediate.issue_cert("127.0.0.1", "localhost")
    ids = []
    for _ in range(2):  # two servers, two ports
        endpoint = {"name": "web", "endpoint": f"https://{serve(tls_server, leaf)}"}
        run = tls_run(target, run_checks, endpoint, ca)
        assert outcomes(run) == dict.fromkeys(TLS_CHECKS, "passed")
        ids.append(sorted(run.outcomes("tls")))
    assert ids[0] == ids[1] and "test_chain_and_host_name_verify[web]" in ids[0]


def test_expired_certificate_is_reported_as_expired_with_its_dates(
    target, run_checks, tls_server, pki
) -> None:
    root, _, ca = pki
    leaf = root.issue_cert(
        "127.0.0.1", not_before=NOW - timedelta(days=40), not_after=NOW - timedelta(days=2)
    )
    run = tls_run(
        target,
        run_checks,
        serve(tls_server, leaf),
        ca,
    )
    text = assert_fails(run, "test_certificates_are_valid_now")
    assert "expired, valid " in text and f"to {(NOW - timedelta(days=2)):%Y-%m-%d}" in text
    assert "certificate has expired" in assert_fails(run, "test_chain_and_host_name_verify")


def test_not_yet_valid_certificate_fails(target, run_checks, tls_server, pki) -> None:
    root, _, ca = pki
    leaf = root.issue_cert(
        "127.0.0.1", not_before=NOW + timedelta(days=3), not_after=NOW + timedelta(days=90)
    )
    run = tls_run(
        target,
        run_checks,
        serve(tls_server, leaf),
        ca,
    )
    assert "not yet valid" in assert_fails(run, "test_certificates_are_valid_now")


def test_certificate_expiring_in_five_days_fails_and_warns(target, run_checks, tls_server, pki) -> None:
    root, _, ca = pki
    leaf = root.issue_cert("127.0.0.1", not_after=NOW + timedelta(days=5))
    run = tls_run(
        target,
        run_checks,
        serve(tls_server, leaf),
        ca,
    )
    result = outcomes(run)
    assert (result["test_certificates_outlast_fail_days"], result["test_certificates_outlast_warn_days"]) == (
        "failed",
        "warned",
    )
    assert "expires within tls.fail_days (14)" in assert_fails(run, "test_certificates_outlast_fail_days")
    assert assert_fails(run, "test_certificates_outlast_warn_days", "warning").startswith(
        "expires within tls.warn_days (30): OU=Testing cert"
    )


def test_wrong_host_fails_verification(target, run_checks, tls_server, pki) -> None:
    root, _, ca = pki
    leaf = root.issue_cert("other.example")
    run = tls_run(
        target,
        run_checks,
        serve(tls_server, leaf),
        ca,
    )
    assert "IP address mismatch" in assert_fails(run, "test_chain_and_host_name_verify")


def test_missing_intermediate_fails_verification(target, run_checks, tls_server, pki) -> None:
    _, intermediate, ca = pki
    leaf = intermediate.issue_cert("127.0.0.1")
    run = tls_run(
        target, run_checks, tls_server([leaf.cert_chain_pems[0].bytes()], leaf.private_key_pem.bytes()), ca
    )
    assert "unable to get local issuer certificate" in assert_fails(run, "test_chain_and_host_name_verify")


def test_self_signed_certificate_fails_verification(target, run_checks, tls_server, pki) -> None:
    _, _, ca = pki
    stranger = trustme.CA()
    run = tls_run(
        target, run_checks, tls_server([stranger.cert_pem.bytes()], stranger.private_key_pem.bytes()), ca
    )
    assert "self-signed certificate" in assert_fails(run, "test_chain_and_host_name_verify")


def _rsa_leaf(issuer: trustme.CA, bits: int) -> tuple[bytes, bytes]:
    """A leaf for 127.0.0.1 with an RSA key of `bits`: trustme's RSA keys are always 2048 bits."""
    key = rsa.generate_private_key(65537, bits)
    ca_cert = x509.load_pem_x509_certificate(issuer.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(issuer.private_key_pem.bytes(), password=None)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak-key.test")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_rsa_1024_key_fails_and_names_its_size(target, run_checks, tls_server, pki) -> None:
    root, _, ca = pki
    cert_pem, key_pem = _rsa_leaf(root, 1024)
    run = tls_run(target, run_checks, tls_server([cert_pem], key_pem), ca)
    assert outcomes(run)["test_key_size_and_protocol"] == "failed"
    assert message(run, "test_key_size_and_protocol") == "CN=weak-key.test: RSA key of 1024 bits (< 2048)"
    assert outcomes(run)["test_certificates_are_valid_now"] == "passed"
    # clients at OpenSSL's default security level refuse such a key, which the verify check shows
    assert message(run, "test_chain_and_host_name_verify").endswith("EE certificate key too weak")


def test_rsa_2048_key_passes(target, run_checks, tls_server, pki) -> None:
    root, _, ca = pki
    cert_pem, key_pem = _rsa_leaf(root, 2048)
    run = tls_run(target, run_checks, tls_server([cert_pem], key_pem), ca)
    assert outcomes(run) == dict.fromkeys(TLS_CHECKS, "passed")


def test_unreachable_endpoint_is_reported_as_unreachable(target, run_checks, pki) -> None:
    _, _, ca = pki
    run = tls_run(target, run_checks, f"127.0.0.1:{free_port()}", ca)
    assert message(run, "test_certificates_are_valid_now").endswith("unreachable: Connection refused")
    assert run.exit_code == 1


class _Sink:
    async def handle_DATA(self, server, session, envelope) -> str:
        return "250 OK"


def test_smtp_starttls_endpoint_is_checked_after_starttls(target, run_checks, pki, tmp_path) -> None:
    root, _, ca = pki
    leaf = root.issue_cert("127.0.0.1")
    context = _context([b.bytes() for b in leaf.cert_chain_pems], leaf.private_key_pem.bytes(), tmp_path)
    port = free_port()
    controller = Controller(
        _Sink(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        run = tls_run(target, run_checks, f"smtp+starttls://127.0.0.1:{port}", ca)
    finally:
        controller.stop()
    assert outcomes(run) == dict.fromkeys(TLS_CHECKS, "passed")


def test_a_server_limited_to_tls_1_1_fails_the_protocol_check(target, run_checks, tls_server, pki) -> None:
    _, intermediate, ca = pki
    leaf = intermediate.issue_cert("127.0.0.1")
    endpoint = tls_server(
        [b.bytes() for b in leaf.cert_chain_pems], leaf.private_key_pem.bytes(), old_tls=True
    )
    run = tls_run(target, run_checks, endpoint, ca)
    assert assert_fails(run, "test_key_size_and_protocol") == "negotiated TLSv1.1, older than TLS 1.2"
    refused = assert_fails(run, "test_chain_and_host_name_verify")  # a client refuses it
    assert refused.startswith(f"{endpoint}: handshake failed: ")
    assert outcomes(run)["test_certificates_are_valid_now"] == "passed"  # its certificate was read


def test_a_weak_key_and_an_old_protocol_are_both_named(target, run_checks, tls_server, pki) -> None:
    root, _, ca = pki
    cert_pem, key_pem = _rsa_leaf(root, 1024)
    run = tls_run(target, run_checks, tls_server([cert_pem], key_pem, old_tls=True), ca)
    assert assert_fails(run, "test_key_size_and_protocol") == (
        "CN=weak-key.test: RSA key of 1024 bits (< 2048); negotiated TLSv1.1, older than TLS 1.2"
    )


def _check_module():
    """checks/test_tls.py, loaded as the suite loads it, for a result no server can be made to give."""
    spec = importlib.util.spec_from_file_location("deploycheck_checks_tls", CHECKS / "test_tls.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_empty_chain_fails_every_check_that_needs_a_certificate(target) -> None:
    """pyOpenSSL may hand back no peer chain: nothing judged is no pass, for each check."""
    target.write_profile(tls={"endpoints": ["127.0.0.1:443"]})
    profile = target.profile()
    empty = tls_probe.TlsResult(parse_endpoint("127.0.0.1:443"), protocol="TLSv1.3")
    checks = _check_module()
    quiet = {"evidence": lambda text: None, "record_detail": lambda key, value: None}
    calls = {
        "test_certificates_are_valid_now": lambda: checks.test_certificates_are_valid_now(
            profile, empty, **quiet
        ),
        "test_certificates_outlast_fail_days": lambda: checks.test_certificates_outlast_fail_days(
            profile, empty, quiet["evidence"]
        ),
        "test_certificates_outlast_warn_days": lambda: checks.test_certificates_outlast_warn_days(
            profile, empty, quiet["evidence"]
        ),
        "test_key_size_and_protocol": lambda: checks.test_key_size_and_protocol(empty, **quiet),
    }
    for name, call in calls.items():
        with pytest.raises(AssertionError) as failed:
            call()
        assert str(failed.value).startswith(
            "127.0.0.1:443: no certificate was read from the server, so none can be judged"
        ), name


# -- the probe on its own (quick: `-k test_probe` is what a mutation run of runner/probes/tls.py uses)


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port"),
    [
        ("db.example.org:3306", "tls", "db.example.org", 3306),
        ("[::1]:8443", "tls", "::1", 8443),
        ("https://app.example.org", "https", "app.example.org", 443),
        ("https://app.example.org:8443/health", "https", "app.example.org", 8443),
        ("smtps://mail.example.org", "smtps", "mail.example.org", 465),
        ("smtp+starttls://mail.example.org", "smtp+starttls", "mail.example.org", 587),
    ],
)
def test_probe_parses_endpoints_with_default_ports(text: str, scheme: str, host: str, port: int) -> None:
    assert parse_endpoint(text) == Endpoint(text, scheme, host, port)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("app.example.org", "is not host:port or a URL like https://host"),
        (":443", "is not host:port or a URL like https://host"),
        ("host:https", "is not host:port or a URL like https://host"),
        ("http://app.example.org", "the scheme must be https, smtps or smtp+starttls"),
        ("https://", "is not a URL like https://host"),
        ("ftp://app.example.org", "the scheme must be https, smtps or smtp+starttls"),
        ("h:99999", "is not host:port or a URL like https://host"),
    ],
)
def test_bad_endpoints_are_refused_when_the_profile_loads(tmp_path, text: str, problem: str) -> None:
    """Refused at load, the key and the entry named, not when the probe first reads it."""
    profile = tmp_path / "p.yml"
    profile.write_text(f"tls:\n  endpoints: ['h:443', {{name: n, endpoint: '{text}'}}]\n")
    with pytest.raises(ProfileError) as refused:
        load_profile(str(profile))
    assert str(refused.value) == f"{profile}: tls.endpoints: entry 1: {text!r} {problem}".replace(
        f"{text!r} the", f"{text!r}: the"
    )


def test_probe_takes_only_tls_1_2_and_newer_as_ok() -> None:
    assert [tls_probe.protocol_ok(p) for p in ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3", "")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def test_probe_reads_the_chain_as_sent_and_verifies_as_a_client(tls_server, pki) -> None:
    _, intermediate, ca = pki
    leaf = intermediate.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=10))
    endpoint = parse_endpoint(serve(tls_server, leaf))
    result = tls_probe.probe(endpoint, 5, ca)
    assert result.verify_error is None and result.protocol in ("TLSv1.2", "TLSv1.3") and result.cipher
    assert [c.issuer == c.subject for c in result.chain] == [False, False]  # leaf and intermediate, no root
    first = result.chain[0]
    assert first.key.startswith(("EC ", "RSA ")) and 9.9 < first.days_left(datetime.now(UTC)) <= 10
    assert first.dates() == f"valid {first.not_before:%Y-%m-%d} to {first.not_after:%Y-%m-%d}"
    untrusted = tls_probe.probe(endpoint, 5, None)  # the system store does not know the test CA
    assert (
        untrusted.chain == result.chain and untrusted.verify_error == "unable to get local issuer certificate"
    )


def test_probe_reads_rsa_key_sizes(tls_server, pki) -> None:
    root, _, ca = pki
    cert_pem, key_pem = _rsa_leaf(root, 1024)
    (leaf,) = tls_probe.probe(parse_endpoint(tls_server([cert_pem], key_pem)), 5, ca).chain
    assert (leaf.key, leaf.rsa_bits, leaf.subject) == ("RSA 1024", 1024, "CN=weak-key.test")


def test_probe_names_unreachable_endpoints() -> None:
    port = free_port()
    with pytest.raises(TargetUnreachable, match=f"^127.0.0.1:{port}: unreachable: Connection refused$"):
        tls_probe.probe(parse_endpoint(f"127.0.0.1:{port}"), 5)
    with pytest.raises(
        TargetUnreachable, match=r"^no-such-host\.invalid:443: unreachable: DNS lookup failed"
    ):
        tls_probe.probe(parse_endpoint("no-such-host.invalid:443"), 5)


def test_probe_speaks_starttls_before_the_handshake(pki, tmp_path) -> None:
    root, _, ca = pki
    leaf = root.issue_cert("127.0.0.1")
    context = _context([b.bytes() for b in leaf.cert_chain_pems], leaf.private_key_pem.bytes(), tmp_path)
    with_tls, without = free_port(), free_port()
    servers = [
        Controller(_Sink(), hostname="127.0.0.1", port=with_tls, tls_context=context, require_starttls=True),
        Controller(_Sink(), hostname="127.0.0.1", port=without),
    ]
    for server in servers:
        server.start()
    try:
        result = tls_probe.probe(parse_endpoint(f"smtp+starttls://127.0.0.1:{with_tls}"), 5, ca)
        assert result.verify_error is None and len(result.chain) == 1
        with pytest.raises(TargetUnreachable, match=f":{without}: the server does not offer STARTTLS$"):
            tls_probe.probe(parse_endpoint(f"smtp+starttls://127.0.0.1:{without}"), 5, ca)
    finally:
        for server in servers:
            server.stop()


def test_probe_of_a_server_that_is_not_tls_fails_the_handshake(pki) -> None:
    """An SMTP server spoken to as implicit TLS: the chain cannot be read."""
    port = free_port()
    server = Controller(_Sink(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        with pytest.raises(TargetUnreachable, match=f"^smtps://127.0.0.1:{port}: TLS handshake failed"):
            tls_probe.probe(parse_endpoint(f"smtps://127.0.0.1:{port}"), 5, pki[2])
    finally:
        server.stop()


def test_probe_reads_and_refuses_a_self_signed_server(tls_server, pki) -> None:
    stranger = trustme.CA()
    endpoint = parse_endpoint(tls_server([stranger.cert_pem.bytes()], stranger.private_key_pem.bytes()))
    result = tls_probe.probe(endpoint, 5, pki[2])
    assert len(result.chain) == 1 and result.chain[0].issuer == result.chain[0].subject
    assert "self-signed certificate" in result.verify_error


def test_probe_of_a_silent_server_gives_up_within_a_fraction_of_a_second() -> None:
    """The kernel's receive timeout carries the fraction of timeout_s too (0.5 s is not 0)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never says a word
        endpoint = parse_endpoint(f"127.0.0.1:{silent.getsockname()[1]}")
        with pytest.raises(TargetUnreachable, match=r"^127\.0\.0\.1:\d+: TLS handshake failed"):
            tls_probe.probe(endpoint, 0.5)
