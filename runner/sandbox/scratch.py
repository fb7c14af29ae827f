"""The scratch server of a profile: `scratch: local` (the default) starts a throwaway mariadbd
that goes away with the block; `scratch: {host, port, user, password, prefix}` is a server the
team provides (for instance a `mysql:8.4` service with tmpfs beside production, same flavor
and version). Either way only databases named with the prefix are created and dropped."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.db import Scratch, describe
from runner.profile.model import Database, Profile
from runner.sandbox.mariadb import MariaDBServer


@contextmanager
def open_scratch(profile: Profile, say: Callable[[str], None] = lambda _: None) -> Iterator[Scratch]:
    cfg = profile.scratch
    if cfg == "local":
        server = MariaDBServer(Path(tempfile.mkdtemp(prefix="deploycheck-scratch-")))
        try:
            say("starting a throwaway local mariadbd as the scratch server ...")
            server.start()
            login = Database(socket=server.socket, user="root", name="")
            yield Scratch(login, "deploycheck_scratch_", "a throwaway local mariadbd")
        finally:
            server.remove()
        return
    login = Database(
        host=cfg.host, port=cfg.port, socket=cfg.socket, user=cfg.user, password=cfg.password, name=""
    )
    label = f"scratch server {describe(login).split(' at ', 1)[1]}"
    target = profile.database
    if target is not None and (target.socket, target.host, target.port) == (cfg.socket, cfg.host, cfg.port):
        label += f" (the target's own server: only {cfg.prefix}* databases are created there)"
        say(
            f"the scratch server is the target's own server; deploycheck creates only {cfg.prefix}* databases there"
        )
    yield Scratch(login, cfg.prefix, label)
