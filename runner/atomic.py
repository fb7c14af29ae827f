"""Files that a reader never sees half-written, written where nothing planted is written through."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from runner.errors import DeploycheckError


def read_within(folder: Path, *parts: str) -> bytes | None:
    """The regular file `folder/parts...`, read without following a symbolic link anywhere below
    `folder` (each part opened O_NOFOLLOW relative to the last): a link planted in an archive on
    a shared volume cannot make a reader serve a file outside it. None when there is no such file."""
    opened: list[int] = []
    try:
        opened.append(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for part in parts[:-1]:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            opened.append(os.open(part, flags, dir_fd=opened[-1]))
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        opened.append(os.open(parts[-1], flags, dir_fd=opened[-1]))
        if not stat.S_ISREG(os.fstat(opened[-1]).st_mode):
            return None
        with os.fdopen(os.dup(opened[-1]), "rb") as handle:
            return handle.read()
    except OSError:  # missing, a link (ELOOP), not a folder on the way
        return None
    finally:
        for fd in opened:
            os.close(fd)


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


def open_appending(path: Path, mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """`path` opened to append (`mode` "ab", "a+b" or "a"), created 0644 if new, never through a
    symbolic link planted in its place (O_NOFOLLOW): the archive may live on a shared volume."""
    access = os.O_RDWR if "+" in mode else os.O_WRONLY
    try:
        fd = os.open(path, access | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise DeploycheckError(
            f"{path} is a symbolic link: deploycheck appends only to a file of its own there, "
            "never through a link; remove the link"
        ) from None
    return os.fdopen(fd, mode, **kwargs)


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
