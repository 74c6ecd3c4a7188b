"""Small durable-file helpers shared by the log's writers (atomic replace, dir fsync)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

__all__ = ["FileOps", "atomic_write", "fsync_dir", "pwrite_all"]


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created or renamed in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, exclusive: bool = False) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one.

    Writes a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
    the directory. With `exclusive`, never replaces an existing file (FileExistsError):
    the rename is done with link()+unlink(), which fails atomically if `path` exists.
    """
    # Unique per call: two threads may archive the same policy at once.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class FileOps:
    """The writer's I/O seam: every system call that can fail on a full or broken disk.

    The durable writer does its file I/O only through an instance of this class, so tests
    can inject ENOSPC, EIO or EROFS at an exact call (subclass and raise OSError) without
    a real failing disk. The defaults are the plain `os` calls.
    """

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        """os.open."""
        return os.open(path, flags, mode)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        """os.pwrite: may write fewer bytes than given (callers loop)."""
        return os.pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        """os.fdatasync: the durability point of a group-commit batch."""
        os.fdatasync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        """os.ftruncate: cuts a failed batch back off a segment."""
        os.ftruncate(fd, length)

    def close(self, fd: int) -> None:
        """os.close."""
        os.close(fd)

    def fsync_dir(self, path: Path) -> None:
        """fsync a directory, making created and renamed entries durable."""
        fsync_dir(path)


def pwrite_all(ops: FileOps, fd: int, data: bytes, offset: int) -> None:
    """Write all of `data` at `offset`, looping over short writes (raises OSError)."""
    view = memoryview(data)
    while view:
        written = ops.pwrite(fd, view, offset)
        if written <= 0:  # pragma: no cover - the kernel raises rather than returning 0
            raise OSError(errno.EIO, "pwrite wrote nothing")
        view = view[written:]
        offset += written
