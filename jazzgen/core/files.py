"""Safe file access: atomic writes, and reads that refuse special files and stop at a size limit.

Every output jazzgen writes (corpus arrays, checkpoints, MIDI, WAV, JSON) goes through the atomic
helpers, so an interrupted command never leaves a truncated file that a later command would trust.
Every input file a user names goes through `check_input` / `read_limited` first, so a FIFO, a
link to /dev/zero or a huge sparse file is refused in one line instead of hanging or filling
memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from jazzgen.errors import InputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, else delete it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _about(e, path) from e
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs should read like any new file
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        raise _about(e, path) from e
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _about(e: OSError, path: Path) -> OSError:
    """The same error, naming the file the user asked for instead of its temporary name.

    A full disk shows up as ENOSPC from write() (no file name) or as a short write; both are
    reported against `path`. The errno keeps its subclass (IsADirectoryError for a folder).
    """
    if e.filename and not str(e.filename).endswith(".tmp") and Path(e.filename) != path.parent:
        return e
    return OSError(e.errno, e.strerror or str(e), str(path))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces `path` only when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as sorted, indented JSON atomically (sorted keys: byte-identical reruns)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def read_json(path: str | os.PathLike, max_bytes: int = 1 << 30, expect: type | None = None) -> Any:
    """Read a JSON file written by `write_json`; with `expect` (dict, list) its top-level type.

    Raises:
        InputError: "missing file", "not a regular file", "too long", or "damaged JSON file"
            (truncated, garbage, not UTF-8, not the expected type); the message names the file.
    """
    data = read_limited(path, max_bytes)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, "damaged JSON file", str(e)[:120]) from e
    if expect is not None and not isinstance(value, expect):
        raise InputError(path, "damaged JSON file", f"want a JSON {'object' if expect is dict else 'array'}")
    return value


def read_npz(path: str | os.PathLike, max_bytes: int = 1 << 34) -> dict[str, Any]:
    """Every array of an `.npz` written by numpy, loaded (no pickled objects allowed).

    Raises:
        InputError: "missing file", "not a regular file", "too long", or "damaged weights file"
            (empty, truncated, not an npz, pickled data); the message names the file.
    """
    import zipfile

    import numpy as np

    check_input(path, max_bytes)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError as e:
        raise InputError(path, "missing file") from e
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, AttributeError, TypeError) as e:
        # A plain .npy instead of an .npz loads as an array, which is no context manager.
        with open(path, "rb") as f:
            head = f.read(4)
        detail = ("empty file" if not head else "not an .npz file" if not head.startswith(b"PK")
                  else f"{type(e).__name__}: {e}")
        raise InputError(path, "damaged weights file", detail[:160]) from e


def check_input(path: str | os.PathLike, max_bytes: int) -> int:
    """The size in bytes of a regular file of at most `max_bytes`, following links.

    Raises:
        InputError: reasons "missing file", "not a regular file" (folder, FIFO, device such as
            /dev/zero), "too long" (more than `max_bytes`, sparse or not) or "unreadable file".
    """
    try:
        info = os.stat(path)
    except FileNotFoundError as e:
        raise InputError(path, "missing file") from e
    except OSError as e:
        raise InputError(path, "unreadable file", e.strerror or str(e)) from e
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "not a regular file", _kind(info.st_mode))
    if info.st_size > max_bytes:
        raise InputError(path, "too long", f"{info.st_size} bytes > {max_bytes}")
    return info.st_size


def read_limited(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file, reading at most `max_bytes` (+1 to notice a growing file).

    The file is opened without blocking and checked on its open descriptor, so a FIFO swapped in
    after a check can neither hang the read nor slip past it.

    Raises:
        InputError: as `check_input`.
    """
    check_input(path, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise InputError(path, "unreadable file", e.strerror or str(e)) from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, "not a regular file", _kind(info.st_mode))
        chunks, left = [], max_bytes + 1
        while left > 0:
            block = os.read(fd, min(left, 1 << 20))
            if not block:
                break
            chunks.append(block)
            left -= len(block)
    except OSError as e:
        raise InputError(path, "unreadable file", e.strerror or str(e)) from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise InputError(path, "too long", f"more than {max_bytes} bytes")
    return data


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"
