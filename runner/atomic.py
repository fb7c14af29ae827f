"""Files that a reader never sees half-written, written where nothing planted is written through."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file. The temporary
    name is random and opened O_EXCL|O_NOFOLLOW, so a symlink planted in a shared reports folder
    is not written through; the file keeps the mode it had (0644 when new: reports are read)."""
    try:
        before = path.lstat()
    except FileNotFoundError:
        before = None
    mode = stat.S_IMODE(before.st_mode) if before and stat.S_ISREG(before.st_mode) else 0o644
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)
            out.write(text)
        os.replace(name, path)
    except BaseException:
        os.unlink(name)
        raise


@contextmanager
def partial_file(final: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A new file beside `final`, owner-only (0600), under a random hidden name opened with
    O_EXCL|O_NOFOLLOW (mkstemp): a symlink or file planted in the folder is never written
    through. The caller links or renames it to `final`; whatever is left is removed on exit."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, path
    finally:
        path.unlink(missing_ok=True)
