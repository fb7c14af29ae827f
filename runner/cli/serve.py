"""`deploycheck serve`: the dashboard, JSON API and /metrics of a profile's archive, read-only."""

from __future__ import annotations

import argparse
import time
from typing import TextIO

from runner.errors import UsageError
from runner.profile.loader import load_profile
from runner.serve.app import Dashboard, serve

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    profile = load_profile(args.profile)
    token = profile.serve.token.get_secret_value() if profile.serve.token else None
    if args.host not in _LOOPBACK and token is None and not args.insecure_no_auth:
        raise UsageError(
            f"--host {args.host} serves beyond this machine: set serve.token_file in {profile.path} "
            "(clients send `Authorization: Bearer TOKEN`), or pass --insecure-no-auth"
        )
    server = serve(Dashboard(profile, args.reports), args.host, args.port, token)
    host, port = server.server_address[:2]
    print(
        f"serve: http://{host}:{port}/ for profile {profile.name} (read-only; Ctrl-C stops it)",
        file=out,
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    finally:
        server.shutdown()
        server.server_close()
