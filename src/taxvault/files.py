"""Private files: what taxvault writes at rest is readable by its owner only.

The store, its WAL, keys, legacy files and audit exports all carry taxpayer data or
secrets. They are created 0600 in folders 0700, whatever the process umask says (the
mode is set on the open descriptor, not left to ``umask``). Folders that already
exist and that taxvault does not own (a directory the user named) keep their mode;
:func:`private_dir` with ``tighten=True`` is for taxvault's own folders (``var/``,
the keys dir).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path | str, *, tighten: bool = False) -> Path:
    """Create ``path`` (and missing parents) 0700; with ``tighten``, also chmod it if it exists."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass  # created meanwhile by someone else: not ours to chmod
        else:
            os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    if tighten and not missing:
        os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path | str, mode: str = "wb", encoding: str | None = None) -> IO[Any]:
    """Open ``path`` for writing (``w``/``a``, text or binary), created or truncated, mode 0600.

    An existing file is brought to 0600 too, before anything is written to it.
    """
    if mode.strip("bt") not in ("w", "a", "x"):
        raise ValueError("open_private writes: mode must be w, a or x (with b or t)")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    if mode.startswith("w"):
        flags |= os.O_TRUNC
    elif mode.startswith("a"):
        flags |= os.O_APPEND
    else:
        flags |= os.O_EXCL
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding=encoding or "utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600), replacing any content."""
    with open_private(path, "wb") as fh:
        fh.write(data)


def write_private_text(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` (0600), replacing any content."""
    with open_private(path, "w", encoding=encoding) as fh:
        fh.write(text)


def ensure_private_file(path: Path | str) -> None:
    """Create ``path`` empty and 0600 if missing; bring an existing file to 0600.

    PermissionError if the file exists and is someone else's.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    except FileExistsError:
        os.chmod(path, FILE_MODE)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def chmod_private(path: Path | str) -> None:
    """Bring ``path`` to 0600 if it exists (e.g. a SQLite -wal or -shm created by the library)."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, FILE_MODE)
