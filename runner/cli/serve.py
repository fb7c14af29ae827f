"""`deploycheck serve`: the dashboards, JSON API and /metrics of one or many targets' archives,
read-only."""

from __future__ import annotations

import argparse
import os
import time
from typing import TextIO

from runner import PROFILE_ENV
from runner.errors import UsageError
from runner.serve.app import Site, serve
from runner.serve.limits import in_url, unbracketed
from runner.serve.targets import find_targets

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    given = args.profile or ([os.environ[PROFILE_ENV]] if os.environ.get(PROFILE_ENV) else [])
    dashboards, warnings = find_targets(args.reports, given)
    for warning in warnings:
        print(f"serve: {warning}", file=err, flush=True)
    tokens = {
        d.profile.serve.token.get_secret_value(): d.profile.path for d in dashboards if d.profile.serve.token
    }
    if len(tokens) > 1:
        raise UsageError(
            "serve.token_file: the profiles name different tokens ("
            + ", ".join(str(path) for path in tokens.values())
            + "): one server has one token; give them the same token file"
        )
    token = next(iter(tokens), None)
    if unbracketed(args.host) not in _LOOPBACK and token is None and not args.insecure_no_auth:
        raise UsageError(
            f"--host {args.host} serves beyond this machine: set serve.token_file in "
            f"{' and '.join(str(d.profile.path) for d in dashboards if not d.note) or 'profiles/NAME.yml beside the archive'} "
            "(clients send `Authorization: Bearer TOKEN`), or pass --insecure-no-auth"
        )
    site = Site(dashboards)
    server = serve(site, args.host, args.port, token)
    host, port = server.server_address[:2]
    names = ", ".join(site.targets)
    print(
        f"serve: http://{in_url(host)}:{port}/ for {'profile' if site.home else 'profiles'} {names} "
        "(read-only; Ctrl-C stops it)",
        file=out,
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    finally:
        server.shutdown()
        server.server_close()
