"""`deploycheck`: the command line. Parses arguments, runs one command, maps errors to exit codes.

Each command group lives in a module of its own (migrations, backups, mail, verify, demo), imported
only when it runs: start-up time is part of every command's time (`status` in an
entrypoint, `backups verify` against `gzip -t`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import signal
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner import PROFILE_ENV, __version__
from runner.errors import DeploycheckError

EXIT_CODES = """exit codes:
  0  all good
  1  findings (pending, failed or changed migrations, a failed check, ...)
  2  bad invocation or invalid profile
  3  the target could not be reached
  130 interrupted (Ctrl-C, SIGTERM)
"""
MEANINGS = {
    1: "findings",
    2: "bad invocation or invalid profile",
    3: "the target could not be reached",
    130: "interrupted",
}


def _command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A command's parser: its help keeps the description's line breaks and ends with the exit codes."""
    return sub.add_parser(name, epilog=EXIT_CODES, formatter_class=_Help, **kwargs)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Fitted to the terminal; help that goes to a pipe or a file is as wide as the descriptions
    (`_wrapped`), not argparse's guess of 80 columns."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=None if sys.stdout.isatty() else 92)


def _profile_arg(parser: argparse.ArgumentParser, many: bool = False) -> None:
    parser.add_argument(
        "--profile",
        "-p",
        metavar="P",
        action="append" if many else "store",
        help=f"profile name (profiles/P.yml) or path; default ${PROFILE_ENV}"
        + ("; repeat it to verify several targets at once (see --jobs)" if many else ""),
    )


def _positive(value: str) -> int:
    number = int(value)  # argparse names the option and the value when this raises ValueError
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def _reports_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reports",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="archive root: reports/<profile>/<UTC time>/ go under it (default: ./reports, "
        "relative to the working directory, also when deploycheck is installed)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploycheck",
        formatter_class=_Help,
        description="Verify a MySQL-backed deployment, apply its migrations safely, archive the report.",
    )
    parser.add_argument("--version", action="version", version=f"deploycheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _command(
        sub,
        "migrate",
        help="apply pending migrations (locked, tracked, checksummed)",
        description="Apply pending migrations in order under a database lock. Writes to the target database.",
    )
    _profile_arg(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list pending migrations and print the exact statements; write nothing",
    )
    p.add_argument("--to", metavar="VERSION", help="stop after this version")
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="run the pending migrations on a scratch copy of the target's schema only (profile key "
        "scratch:); the target is not changed. migrations.rehearse: true rehearses before every migrate",
    )
    p.add_argument(
        "--no-backup",
        action="store_true",
        help="do not take a backup first (one is taken when the profile has backups)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func="migrations:cmd_migrate")

    p = _command(
        sub,
        "status",
        help="applied / pending / failed / changed / missing migrations",
        description="Compare migration files with the ledger. Read-only.",
    )
    _profile_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func="migrations:cmd_status")

    p = _command(
        sub,
        "repair",
        help="delete failed ledger rows, accept changed checksums",
        description="Make the ledger agree with the files after a failure was "
        "handled by hand. Writes to the ledger; asks first.",
    )
    _profile_arg(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--forget-missing", action="store_true", help="also delete ledger rows whose migration file is gone"
    )
    p.set_defaults(func="migrations:cmd_repair")

    p = _command(
        sub,
        "baseline",
        help="record migrations up to VERSION as applied without running them",
        description="Adopt an existing database: record every migration up to VERSION "
        "as applied, without running it. Writes to the ledger.",
    )
    _profile_arg(p)
    p.add_argument(
        "--version",
        required=True,
        metavar="V",
        dest="baseline_version",
        help="the newest migration the database already holds (e.g. 12, or 1.2); it and every "
        "older one are recorded as applied",
    )
    p.set_defaults(func="migrations:cmd_baseline")

    p = _command(
        sub,
        "drift",
        help="compare the live schema with what the applied migrations build",
        description=_wrapped(
            "Build the migrations the ledger records as applied on the scratch server (profile key "
            "scratch: a throwaway local mariadbd by default; never the target), then compare that "
            "schema with the target's, read-only: tables, columns, indexes, keys, checks, views, "
            "routines, triggers and events. One line per difference; object kinds the session "
            "cannot see are named, never taken as equal. drift.ignore lists objects kept outside "
            "the migrations on purpose."
        ),
    )
    _profile_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument(
        "--allow-flavor-mismatch",
        action="store_true",
        help="compare although the scratch server is not of production's flavor and version",
    )
    p.set_defaults(func="migrations:cmd_drift")

    p = _command(
        sub,
        "lint",
        help="find statements in migrations that lose data, lock tables or half-apply",
        description=_wrapped(
            "Lint migrations: DROP TABLE/DATABASE/COLUMN, TRUNCATE, DELETE or UPDATE without WHERE, "
            "narrowing type changes, NOT NULL without a default, renames, statements after DDL in "
            "one migration, ALTERs the server runs only with ALGORITHM=COPY (tried on a scratch copy "
            "of the target's schema), and CREATE/DROP without IF [NOT] EXISTS. Without FILE: the "
            "pending migrations (every file when the profile has no database). A comment "
            "`-- deploycheck: allow RULE (reason)` on a statement acknowledges its finding. "
            "Exit 1 when a blocker is not acknowledged."
        ),
    )
    _profile_arg(p)
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="migrations to lint: names in migrations.dir, or paths to any .sql file (judged as the next version)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func="migrations:cmd_lint")

    p = _command(
        sub,
        "verify",
        help="run the checks against a target and archive the reports",
        description=_wrapped(
            "Run the production checks (checks/) against the profile's target, read-only, and "
            "write report.html, report.json and junit.xml into reports/<profile>/<UTC time>/. Options "
            "this command does not know are passed to pytest (e.g. -k database -x).\n\n"
            "Several targets: --profile A --profile B ... runs each target in a process of its own, "
            "--jobs at a time, and shows each one's output whole as it finishes, then one line per "
            "target (verdict and report) and one verdict for all. Every profile is read first: one "
            "that is invalid, given twice, or named as another (the same archive folder) is exit 2 "
            "before anything runs. The exit code is the worst: 130 interrupted (every run stopped "
            "and cleaned up), 2 a target judged nothing, 3 only when no target could be reached, "
            "1 any other failure or unreachable target, 0 only when every target passed. "
            "--metrics writes one file covering every target (label profile)."
        ),
    )
    _profile_arg(p, many=True)
    p.add_argument(
        "--jobs",
        type=_positive,
        default=2,
        metavar="N",
        help="with several --profile: how many targets run at once (default: 2)",
    )
    p.add_argument("--strict", action="store_true", help="failed warnings fail the run too")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict and the report's path")
    p.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        help="also write the run as Prometheus metrics (a node_exporter textfile, e.g. deploycheck.prom)",
    )
    p.add_argument(
        "--notify",
        action="store_true",
        help="alert smtp.notify_to (and notify.webhook_url) when a blocker fails, and once on recovery; "
        "the same failures again only after notify.repeat_hours",
    )
    _reports_arg(p)
    p.set_defaults(func="verify:cmd_verify", passes_through=True)

    p = _command(
        sub,
        "backups",
        help="list, verify and preview backups; take one now",
        description=_wrapped(
            "Backups in the profile's backups.source.\n"
            "list: every file with its kind, database and time.\n"
            "verify FILE|--latest: gzip CRC and length, dump header and footer, views, required tables.\n"
            "preview FILE: what a restore would create, with exact row counts (no database needed).\n"
            "fetch FILE: copy one down, its SHA-256 checked.\n"
            "now: dump the database into the folder (writes there).\n"
            "drill FILE|--latest: restore it into a scratch database (profile key scratch: a throwaway "
            "local mariadbd by default, never the target) and prove it: no server error, every "
            "table's rows equal to the preview's, required tables, CHECK TABLE, backups.drill.queries, "
            "the restore time against backups.drill.budget_min, and which migrations a restore would "
            "leave pending; with --rehearse, the pending migrations then run on the copy, on the backup's "
            "real rows. The scratch database is dropped afterwards."
        ),
    )
    p.add_argument("action", choices=["list", "verify", "preview", "fetch", "now", "drill"])
    p.add_argument("file", nargs="?", metavar="FILE", help="a backup's name in the folder, or a path")
    _profile_arg(p)
    p.add_argument("--latest", action="store_true", help="verify, preview, fetch or drill the newest backup")
    p.add_argument(
        "--keep", action="store_true", help="drill: keep the restored copy and say how to connect to it"
    )
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="drill: then apply to the restored copy what `deploycheck migrate` would apply to it (judged "
        "by the copy's own ledger), and report each migration's outcome and time",
    )
    p.add_argument("--to", type=Path, metavar="DIR", help="fetch: where to put the copy (default: here)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(
        func="backups:cmd_backups", passes_through=True
    )  # FILE may follow an option (argparse leaves it over)

    p = _command(
        sub,
        "smtp",
        help="send a test email through the profile's relay, or run a mail journey",
        description=(
            "test:     connect with smtp.security, log in, send a message with a unique token in its\n"
            "          Subject, Message-ID and X-Deploycheck-Token header, and append the send to a\n"
            "          delivery log. With smtp.imap, wait for it in the recipient's mailbox (up to\n"
            "          smtp.imap.wait_s), require the receiver's Authentication-Results to say spf,\n"
            "          dkim and dmarc = pass, verify its DKIM signature again, then delete it.\n"
            "preview:  print the test email and the failure notification of the newest archived\n"
            "          report, without sending anything.\n"
            "journey NAME: run one of the profile's mail_journeys alone: send its request to the\n"
            "          application, wait for the mail it makes the application send, judge it as\n"
            "          verify does (authentication, DKIM, links), delete it and print the judgement."
        ),
    )
    p.add_argument("action", choices=["test", "preview", "journey"])
    p.add_argument("name", nargs="?", metavar="NAME", help="journey: the mail_journeys entry to run")
    _profile_arg(p)
    p.add_argument("--to", metavar="ADDRESS", help="recipient (default: smtp.test_recipient)")
    p.add_argument(
        "--log",
        type=Path,
        metavar="FILE",
        help="delivery log, JSON lines (default: REPORTS/PROFILE/deliveries.jsonl)",
    )
    p.add_argument(
        "--no-wait", action="store_true", help="send only; do not confirm the delivery through smtp.imap"
    )
    _reports_arg(p)
    p.set_defaults(func="mail:cmd_smtp")

    p = _command(
        sub,
        "serve",
        help="a read-only dashboard, JSON API and Prometheus metrics of one or many targets' archives",
        description=_wrapped(
            "Serve, read-only, the targets given with --profile (repeatable), or without it (and "
            f"without ${PROFILE_ENV}) every profile archived under --reports DIR, its profile read "
            "from profiles/NAME.yml beside DIR for the live panels (without one a target shows its "
            "archived runs only). Per target, under /t/NAME/: the dashboard (the latest verdict, "
            "what needs attention, recent runs, live migration status, backups, certificates), "
            "api/runs?limit=N&before=RUN, api/runs/latest, api/migrations, api/backups and archive/. "
            "Site-wide: / (an overview of every target; with one target, its dashboard, and its "
            "routes at the root too), /api/targets, /metrics (Prometheus, every target labelled "
            "`profile`) and /healthz. Binds 127.0.0.1; another address needs serve.token_file in "
            "the profiles (bearer token, the same for all) or --insecure-no-auth."
        ),
    )
    p.add_argument(
        "--profile",
        "-p",
        metavar="P",
        action="append",
        help="a target's profile name (profiles/P.yml) or path; repeat for several "
        f"(default: ${PROFILE_ENV}, else every profile archived under --reports)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8484, help="port (default: 8484)")
    p.add_argument("--insecure-no-auth", action="store_true", help="serve beyond loopback without a token")
    _reports_arg(p)
    p.set_defaults(func="serve:cmd_serve")

    p = _command(
        sub,
        "archive",
        help="remove old runs from the archive",
        description=_wrapped(
            "prune: remove archived runs of the profile (folders, their history lines and index pages), "
            "keeping the newest N (--keep) or those of the last N days (--keep-days), and always "
            "the newest passing and the newest failing run. Says what it removed."
        ),
    )
    p.add_argument("action", choices=["prune"])
    _profile_arg(p)
    p.add_argument("--keep", type=int, metavar="N", help="keep the newest N runs")
    p.add_argument("--keep-days", type=float, metavar="N", help="keep the runs of the last N days")
    _reports_arg(p)
    p.set_defaults(func="archive:cmd_archive")

    p = _command(
        sub,
        "init",
        help="write a profile from the team's compose files and .env",
        description=_wrapped(
            "Read the compose files (base first, overrides after, merged as docker compose merges "
            "them) and the env file, infer the database, the backup container and its volume, the "
            "public host names, health checks, the variables the app reads, its mail settings and "
            "its migrations folder, and write a profile with a comment on every value saying where "
            "it came from. Secrets are written as ${VARIABLE} references or *_file keys, never as "
            "values. Without --compose: compose.yaml or docker-compose.yml here, with its override. "
            "With --for-container, paths are written as the one-shot service of "
            "examples/compose.deploycheck.yml sees them, each comment naming the mount it relies on "
            "and the host path it stands for: the backup volume at /backup, the profile and the "
            "migrations in /config, the env file as /config/app.env, passwords as the files of "
            "compose secrets in /run/secrets; the database by its service name and port 3306 on "
            "the stack's network (127.0.0.1 on host networking)."
        ),
    )
    p.add_argument(
        "--compose", action="append", metavar="FILE", help="a compose file (repeat: base, then overrides)"
    )
    p.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="the stack's env file (default: .env beside the compose file)",
    )
    p.add_argument(
        "--out", type=Path, metavar="PATH", help="where to write the profile (default: profiles/NAME.yml)"
    )
    p.add_argument(
        "--name", metavar="NAME", help="the profile's name and target label (default: the compose project)"
    )
    p.add_argument(
        "--remote", metavar="USER@HOST", help="read backups over ssh://USER@HOST from where deploycheck runs"
    )
    p.add_argument(
        "--for-container",
        action="store_true",
        help="write paths as the service of examples/compose.deploycheck.yml sees them",
    )
    p.add_argument("--force", action="store_true", help="replace an existing profile")
    p.set_defaults(func="init:cmd_init")

    p = _command(
        sub,
        "demo",
        help="the whole thing on a built-in target of real local servers",
        description=_wrapped(
            "Start a target of real local servers shaped like a small production deployment (a "
            "throwaway MariaDB, a week of backups, an environment file, a health endpoint over HTTP "
            "and HTTPS, a mail relay and the demo domain's DNS zone), apply the sample migrations, "
            "then verify it and archive the report in reports/demo/. With --break FAULT the target "
            "is broken in one way first."
        ),
    )
    p.add_argument(
        "--break", dest="fault", metavar="FAULT", help="break the target in this way (see --list-faults)"
    )
    p.add_argument("--list-faults", action="store_true", help="list the faults --break knows")
    p.add_argument("--keep", action="store_true", help="keep the target running afterwards, until Ctrl-C")
    _reports_arg(p)
    p.set_defaults(func="demo:cmd_demo", passes_through=True)
    return parser


def _wrapped(text: str, width: int = 90) -> str:
    """A description for RawDescriptionHelpFormatter (kept raw for the exit-code epilog):
    each paragraph filled to `width`."""
    return "\n".join(textwrap.fill(paragraph, width) for paragraph in text.split("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # argparse's words, repeated below
            args, extra = parser.parse_known_args(argv)
            if extra and not getattr(args, "passes_through", False):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        sys.stderr.write(said.getvalue())
        code = int(exc.code or 0)
        if code and "--json" in argv:
            _json_error(code, (said.getvalue().strip().splitlines() or ["bad invocation"])[-1])
        return code
    sys.stderr.write(said.getvalue())
    args.extra = extra
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM cleans up as Ctrl-C does
    try:
        module, name = args.func.split(":")
        command = getattr(importlib.import_module(f"runner.cli.{module}"), name)
        return command(args, sys.stdout, sys.stderr)
    except DeploycheckError as exc:
        return _failed(args, exc.exit_code, str(exc))
    except KeyboardInterrupt:
        return _failed(args, 130, "interrupted")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _failed(args: argparse.Namespace, code: int, message: str) -> int:
    """The human message on stderr; with --json, stdout carries it too, as the one JSON object."""
    print(f"deploycheck {args.command}: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        _json_error(code, message)
    return code


def _json_error(code: int, message: str) -> None:
    error = {"exit_code": code, "meaning": MEANINGS.get(code, "error"), "message": message}
    print(json.dumps({"error": error}, indent=2), flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
