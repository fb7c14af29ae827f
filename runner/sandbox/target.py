"""The demo target: real local servers shaped like a small production deployment, and the
faults `deploycheck demo --break FAULT` puts into it, each breaking exactly one thing."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from croniter import croniter

from runner import bundled
from runner.backups.dump import dump_to
from runner.probes.env import read_environment
from runner.profile.model import Database
from runner.sandbox.mailbox import dovecot_server, find_dovecot, pymap_server
from runner.sandbox.mariadb import MariaDBServer
from runner.sandbox.services import DOMAIN, OLD_SMTP_PASSWORD, SMTP_USER, DemoServices

DATABASE = "catalogue"
READ_ONLY_USER = "deploycheck_ro"
MAILBOX = f"ops@{DOMAIN}"  # the demo's one mailbox: the test email and the reset mails arrive here

HEALTHY_ENV = {
    "ENVIRONMENT": "production",
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "3306",
    "SMTP_HOST": "smtp.mail-relay.net",
    "SMTP_PORT": "587",
    "MAIL_FROM": "noreply@catalogue-genetics.org",
    "PUBLIC_URL": "https://catalogue-genetics.org",
}


FAULTS = {
    "pending-migration": "a new migration file was deployed but not applied",
    "edited-migration": "an applied migration file was edited afterwards",
    "failed-migration": "a migration failed half-way, after its DDL ran",
    "latin1-database": "the database was created with latin1 as its default",
    "loose-sql-mode": "the server runs without STRICT_TRANS_TABLES",
    "missing-table": "a table the application needs was dropped",
    "dropped-foreign-key": "someone dropped a foreign key by hand during an incident",
    "hand-added-index": "a DBA added an index by hand, outside the migrations",
    "missing-env": "SMTP_HOST is missing from the environment",
    "placeholder-secret": "SECRET_KEY is still 'changeme'",
    "dev-environment": "ENVIRONMENT=development on the production target",
    "health-down": "the health endpoint does not answer (connection refused)",
    "health-degraded": "the health endpoint reports the database as disconnected",
    "health-slow": "the health endpoint answers after 1.5 s (max_ms 500)",
    "stale-backup": "the nightly backups stopped three days ago",
    "corrupt-backup": "the newest backup was cut short (truncated gzip)",
    "leftover-dump": "a dump whose compression failed left a plain .sql behind",
    "expiring-certificate": "the HTTPS certificate expires in 5 days (tls.fail_days is 14)",
    "spf-missing-relay": "the domain's SPF record does not authorize the mail relay",
    "smtp-wrong-password": "the relay's password was rotated; the application still has the old one",
    "reset-mail-broken": "the application's own SMTP password (app.env) is out of date: "
    "its password-reset mail never leaves, though it answers 202",
}
SCHEDULE = "0 3 * * *"


class _App(BaseHTTPRequestHandler):
    fault: str | None = None
    send_reset: Callable[[str], None] | None = None  # mails a reset link (in the background)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/api/auth/password-reset":
            self.send_error(404)
            return
        try:
            address = json.loads(body)["email"]
        except (ValueError, KeyError, TypeError):
            self._json({"error": 'send {"email": ADDRESS}'}, 400)
            return
        if _App.send_reset is not None:  # a job queue would do this; the answer does not wait for it
            threading.Thread(target=_App.send_reset, args=(address,), daemon=True).start()
        self._json({"status": "if the account exists, a reset link is on its way"}, 202)

    def do_HEAD(self) -> None:
        self._reset_page(body=False)

    def _reset_page(self, body: bool = True) -> None:
        """The page a reset link opens: shown, never acted on (no password changes on GET)."""
        if not self.path.startswith("/reset-password/"):
            self.send_error(404)
            return
        page = b"<!doctype html><title>New password</title><form method=post>...</form>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if body:
            self.wfile.write(page)

    def do_GET(self) -> None:
        if self.path.startswith("/reset-password/"):
            self._reset_page()
        elif self.path == "/health":
            if self.fault == "health-slow":
                time.sleep(1.5)
            connected = self.fault != "health-degraded"
            self._json({"status": "ok" if connected else "degraded", "database": {"connected": connected}})
        elif self.path == "/api/version":
            self._json({"version": "1.0.0"})
        else:
            self.send_error(404)

    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints its own progress."""


class DemoTarget:
    """MariaDB + migrations folder + app.env + health endpoint over HTTP and HTTPS + mail relay
    + DNS zone + mailbox (dovecot where installed, else pymap), in one folder (the mailbox in one
    of its own)."""

    def __init__(self, root: Path, fault: str | None = None, say: Callable[[str], None] = print) -> None:
        self.root = root
        self.fault = fault
        self.say = say
        self.server = MariaDBServer(root / "mariadb", options=self._server_options())
        self.http: ThreadingHTTPServer | None = None
        self.https: ThreadingHTTPServer | None = None
        self.services = DemoServices(root, fault)
        self.password = secrets.token_urlsafe(18)
        self._stack = contextlib.ExitStack()

    def _server_options(self) -> tuple[str, ...]:
        options = ("--default-time-zone=+00:00",)
        if self.fault == "loose-sql-mode":
            options += ("--sql-mode=NO_ENGINE_SUBSTITUTION",)
        return options

    @property
    def environment(self) -> dict[str, str]:
        """The variables profiles/demo.yml reads."""
        port = self.http.server_address[1] if self.http else 9  # 9: discard, nothing listens
        tls_port = self.https.server_address[1] if self.https else 9
        return {
            "DEPLOYCHECK_DEMO_DIR": str(self.root),
            "DEPLOYCHECK_DEMO_HTTP": f"http://127.0.0.1:{port}",
            "DEPLOYCHECK_DEMO_HTTPS": f"https://127.0.0.1:{tls_port}",
            "DEPLOYCHECK_DEMO_IMAP_PORT": str(self.services.mailbox.port if self.services.mailbox else 9),
            "DEPLOYCHECK_DEMO_IMAP_SECURITY": self.services.mailbox.security
            if self.services.mailbox
            else "tls",
            **self.services.environment,
        }

    def start(self) -> None:
        self.say(f"starting a throwaway MariaDB in {self.server.root} ...")
        self.server.start()
        charset = "latin1" if self.fault == "latin1-database" else "utf8mb4"
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET {charset}")
            cur.execute(f"CREATE USER '{READ_ONLY_USER}'@'localhost' IDENTIFIED BY %s", (self.password,))
            cur.execute(f"GRANT SELECT ON {DATABASE}.* TO '{READ_ONLY_USER}'@'localhost'")
            # routine bodies, so that drift compares the demo's procedure too (MariaDB)
            cur.execute(f"GRANT SELECT ON mysql.proc TO '{READ_ONLY_USER}'@'localhost'")
        (self.root / "secrets").mkdir(exist_ok=True)
        (self.root / "secrets" / "db_password").write_text(self.password + "\n")
        shutil.copytree(bundled("migrations"), self.root / "migrations", dirs_exist_ok=True)
        if self.fault == "failed-migration":
            (self.root / "migrations" / "003_add_gene_alias.sql").write_text(
                "ALTER TABLE gene ADD COLUMN alias VARCHAR(64) NULL;\n"
                "ALTER TABLE gene ADD INDEX idx_alias (no_such_column);\n"
            )
        self._write_env()
        if self.fault != "health-down":
            _App.fault = self.fault
            self.http = ThreadingHTTPServer(("127.0.0.1", 0), _App)
            threading.Thread(target=self.http.serve_forever, daemon=True).start()
            self.say(f"application health endpoint on http://127.0.0.1:{self.http.server_address[1]}/health")
        self.services.start()
        self._start_mailbox()
        _App.send_reset = self._send_reset
        self.https = ThreadingHTTPServer(("127.0.0.1", 0), _App)
        days = 5 if self.fault == "expiring-certificate" else 365
        context = self.services.server_context(expires_in_days=days)
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        threading.Thread(target=self.https.serve_forever, daemon=True).start()
        self.say(
            f"HTTPS on 127.0.0.1:{self.https.server_address[1]}, a mail relay on "
            f"127.0.0.1:{self.services.relay_port} (STARTTLS, AUTH) and the zone of {DOMAIN} on "
            f"127.0.0.1:{self.services.dns.port} (SPF, DKIM, DMARC, MX), certificates from a throwaway CA"
        )

    def _start_mailbox(self) -> None:
        password = secrets.token_urlsafe(18)
        (self.root / "secrets" / "imap_password").write_text(password + "\n")
        if find_dovecot() is not None:
            mailbox = dovecot_server(ca=self.services.ca, user=MAILBOX, password=password)
        else:  # a machine without dovecot-imapd: pymap, a Python IMAP server, serves the demo
            mailbox = pymap_server(self.services.ca, MAILBOX, password)
        self.services.mailbox = box = self._stack.enter_context(mailbox)
        self.say(
            f"a mailbox for {MAILBOX} ({box.server}) on 127.0.0.1:{box.port}, IMAP over TLS ({box.security})"
        )

    def _send_reset(self, address: str) -> None:
        """The application's password-reset mail, sent with the SMTP password in its app.env.
        A refusal is swallowed, as applications that queue their mail do: the user still reads
        "a reset link is on its way", and only a journey notices that none arrives."""
        assert self.https is not None
        env = read_environment(f"dotenv:{self.root / 'app.env'}", 10)
        token = secrets.token_urlsafe(24)
        message = EmailMessage()
        message["From"] = env["MAIL_FROM"]
        message["To"] = address
        message["Subject"] = "Reset your catalogue password"
        message.set_content(
            "Someone asked to reset the password of this account.\n\n"
            f"https://127.0.0.1:{self.https.server_address[1]}/reset-password/{token}\n\n"
            "The link works for one hour. If it was not you, ignore this mail.\n"
        )
        context = ssl.create_default_context(cadata=self.services.ca.cert_pem.bytes().decode())
        with (
            contextlib.suppress(smtplib.SMTPException, OSError),
            smtplib.SMTP("127.0.0.1", self.services.relay_port, timeout=10) as client,
        ):
            client.starttls(context=context)
            client.login(SMTP_USER, env["SMTP_PASSWORD"])
            client.send_message(message)

    def _write_env(self) -> None:
        smtp_password = (
            OLD_SMTP_PASSWORD
            if self.fault in ("smtp-wrong-password", "reset-mail-broken")
            else self.services.relay_password
        )
        env = dict(
            HEALTHY_ENV,
            DB_PASSWORD=self.password,
            SECRET_KEY=secrets.token_hex(24),
            SMTP_PASSWORD=smtp_password,
        )
        if self.fault == "missing-env":
            del env["SMTP_HOST"]
        elif self.fault == "placeholder-secret":
            env["SECRET_KEY"] = "changeme"
        elif self.fault == "dev-environment":
            env["ENVIRONMENT"] = "development"
        (self.root / "app.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    def break_after_migrations(self) -> None:
        """Faults that need an applied schema to break."""
        migrations = self.root / "migrations"
        if self.fault == "pending-migration":
            (migrations / "003_add_gene_alias.sql").write_text(
                "ALTER TABLE gene ADD COLUMN alias VARCHAR(64) NULL;\n"
            )
        elif self.fault == "edited-migration":
            path = migrations / "001_add_about_content.sql"
            path.write_text(path.read_text() + "-- edited on the server after it was applied\n")
        elif self.fault in ("missing-table", "dropped-foreign-key", "hand-added-index"):
            sql = {
                "missing-table": "DROP TABLE about_content",
                "dropped-foreign-key": "ALTER TABLE entity DROP FOREIGN KEY fk_entity_disease",
                "hand-added-index": "CREATE INDEX idx_gene_name ON gene (name)",
            }[self.fault]
            with self.server.connect(DATABASE) as conn, conn.cursor() as cur:
                cur.execute(sql)

    def make_backups(self, db: Database, now: datetime) -> None:
        """A week of nightly backups in fradelg/mysql-cron-backup's layout, from a real dump."""
        folder = self.root / "backup"
        folder.mkdir(exist_ok=True)
        dump = folder / ".demo-dump.sql.gz"
        dump_to(db, dump)
        runs = croniter(SCHEDULE, now)
        times = sorted(runs.get_prev(datetime) for _ in range(7))
        if self.fault == "stale-backup":
            times = [t - timedelta(days=3) for t in times]
        for moment in times:
            name = f"{moment:%Y%m%d%H%M}.{DATABASE}.sql.gz"
            shutil.copyfile(dump, folder / name)
        dump.unlink()
        (folder / f"latest.{DATABASE}.sql.gz").symlink_to(name)
        newest = folder / name
        if self.fault == "corrupt-backup":
            data = newest.read_bytes()
            newest.write_bytes(data[: len(data) * 2 // 3])
        elif self.fault == "leftover-dump":  # an hour ago, at a container start (INIT_BACKUP=1)
            started = now - timedelta(hours=1)
            leftover = folder / f"{started:%Y%m%d%H%M}.{DATABASE}.sql"
            leftover.write_text("-- MariaDB dump 10.19\n")
            os.utime(leftover, (started.timestamp(), started.timestamp()))  # it stopped changing then

    def stop(self) -> None:
        for http in (self.http, self.https):
            if http is not None:
                http.shutdown()
                http.server_close()
        self.services.stop()
        self._stack.close()  # the mailbox
        self.server.stop()
