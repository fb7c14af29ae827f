"""`deploycheck smtp test`."""

from __future__ import annotations

import argparse
from typing import TextIO

from runner.errors import DeploycheckError, UsageError
from runner.profile_loader import load_profile
from runner.smtp_probe import SmtpRefused, send_test


def cmd_smtp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    if profile.smtp is None:
        raise UsageError(f"{profile.path}: smtp: section is required for `deploycheck smtp`")
    print(f"smtp test: sending a test email through {profile.smtp.host}:{profile.smtp.port}", file=err)
    try:
        token, session = send_test(profile.smtp, profile.timeouts.default_s, args.to, args.log)
    except SmtpRefused as exc:
        raise DeploycheckError(str(exc)) from None
    print(
        f"sent; token {token} (search the recipient's mailbox for it); {session.tls_version or 'no TLS'}; "
        f"logged in {args.log}",
        file=out,
    )
    return 0
