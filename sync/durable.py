"""Durable writes: a file's bytes, and its new name after a rename, survive a power cut only
once the file, then its folder, are synced. And private ones: the store's files hold a
person's face and name (encrypted, but a copy invites an offline guess at the passphrase), so
each is made readable by its owner only, whatever the umask, and never through a link another
user planted at its name."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def fsync_path(path: Path) -> None:
    """Sync a file's bytes, or a folder's entries (the names a rename changed).

    Raises OSError where the file system cannot.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private(path: Path) -> int:
    """Make a new file at ``path``, mode 0600, and return its descriptor, open for writing.

    ``FileExistsError`` if anything is at ``path``, a link included: nothing is opened that
    was there before (an emptied file keeps its mode, a link leads elsewhere).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may only have narrowed it; say it exactly
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private_folders(folder: Path) -> None:
    """Make ``folder`` and whichever of its parents are missing, each 0700; folders that
    exist already keep their mode."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=PRIVATE_FOLDER)  # a umask can only narrow it
        except FileExistsError:
            if not candidate.is_dir():
                raise
