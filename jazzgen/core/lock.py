"""One writer per directory: a run or corpus directory is locked while a command writes it.

Two `jazzgen train --resume` into one run directory would both exit 0 with one result lost, and
the second would delete the first's temporary files mid-write. The lock is an advisory `flock` on
`DIR/.jazzgen.lock`, which the kernel releases when the holder exits however it ends (Ctrl-C,
SIGKILL, a crash), so a lock is never left stale. The file records who holds it, so the second
process can say so.

The holder owns the directory: temporary files and folders (`.*.tmp`) found in it when the lock is taken were
left by a killed process and are removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from jazzgen.errors import UsageError

LOCK_NAME = ".jazzgen.lock"


@contextlib.contextmanager
def dir_lock(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold the lock of directory `path` (created if missing) for the block.

    Args:
        path: the run or corpus directory about to be written.
        what: what the holder does, for the other process's message ("train", "preprocess").

    Raises:
        UsageError: another process holds the directory (the message names it), or `path` is a
            file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: is a file, not a directory")
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock_path = path / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise UsageError(f"{path}: in use by {_holder(fd)}; wait for it to finish or stop it") from None
        _record_holder(fd, what)
        _remove_stale_temporaries(path)
        try:
            yield path
        finally:
            if created:  # nothing was written: leave no empty directory behind
                with contextlib.suppress(OSError):
                    if [p.name for p in path.iterdir()] == [LOCK_NAME]:
                        lock_path.unlink()
                        path.rmdir()
    finally:
        os.close(fd)  # releases the flock


def _record_holder(fd: int, what: str) -> None:
    """Write who holds the lock into the lock file (best effort: a full disk must not stop it)."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": what,
              "args": " ".join(sys.argv[1:])[:200], "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)


def _holder(fd: int) -> str:
    """The holder, in words, from the lock file."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return "another jazzgen process"
    return (f"jazzgen {record.get('command', '?')} (pid {record.get('pid')} on {record.get('host')}, "
            f"since {record.get('since')})")


def _remove_stale_temporaries(path: Path) -> None:
    """Delete `.*.tmp` files and folders under `path`: with the lock held, no one writes them."""
    for stale in sorted(path.rglob(".*.tmp"), reverse=True):  # deepest first
        with contextlib.suppress(OSError):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
