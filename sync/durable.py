"""Durable writes: a file's bytes, and its new name after a rename, survive a power cut only
once the file, then its folder, are synced. And private ones: the store's files hold a
person's face and name (encrypted, but a copy invites an offline guess at the passphrase), so
each is made readable by its owner only, whatever the umask, and never through a link another
user planted at its name."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
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


def create_private(path: Path, *, folder_owner: bool = False) -> int:
    """Make a new file at ``path``, mode 0600, and return its descriptor, open for writing;
    ``folder_owner``: given its folder's owner (``give_folder_owner``).

    ``FileExistsError`` if anything is at ``path``, a link included: nothing is opened that
    was there before (an emptied file keeps its mode, a link leads elsewhere).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may only have narrowed it; say it exactly
        if folder_owner:
            give_folder_owner(fd, path.parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def give_folder_owner(fd: int, folder: Path) -> None:
    """As root, give the file open at ``fd`` the owner and group of ``folder``, the folder
    it was just made in: a ``jaga hub`` command run by hand as root in a service's data
    folder (systemd's ``StateDirectory``, owned by the service's user) must not leave a
    file that user can no longer open, 0600 and root's. Nothing for another user, who can
    give a file away to no one (and whose files are the folder's owner's already, or
    another user's on purpose). Raises OSError."""
    if os.geteuid() != 0:
        return
    found = folder.stat()
    os.fchown(fd, found.st_uid, found.st_gid)


def replace_private(path: Path, text: str, *, folder_owner: bool = False) -> None:
    """Put ``text`` at ``path``, 0600, whole: a synced temporary file made anew (never
    opened through a link planted at its name) renamed over it, then the folder synced;
    ``folder_owner``: given its folder's owner first (``give_folder_owner``).
    Raises OSError (the temporary file removed)."""
    temporary = temporary_beside(path)
    try:
        temporary.unlink(missing_ok=True)  # a stale one, or a link: removed, never followed
        _write_synced(temporary, text, folder_owner=folder_owner)
        temporary.replace(path)
        fsync_path(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_private_once(path: Path, text: str, *, folder_owner: bool = False) -> None:
    """Put ``text`` at ``path``, 0600, whole, unless a file is there already (another
    process made it meanwhile: that one is kept): a synced temporary file linked into place;
    ``folder_owner``: given its folder's owner first (``give_folder_owner``).
    Raises OSError (the temporary file removed)."""
    temporary = temporary_beside(path)
    try:
        temporary.unlink(missing_ok=True)  # left by one that died here, its ids reused
        _write_synced(temporary, text, folder_owner=folder_owner)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        fsync_path(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def temporary_beside(path: Path) -> Path:
    """The name this thread writes ``path``'s next content under before it takes the name
    (its pid and thread id in it: two processes, or two threads of one, never share one)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_native_id()}.tmp")


def _write_synced(path: Path, text: str, *, folder_owner: bool = False) -> None:
    fd = create_private(path, folder_owner=folder_owner)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


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


def narrow_to_owner(path: Path) -> bool:
    """Take group and other access off an existing file of this user's; True if it changed.

    For files made before the store made them private. Changed by name, never opened: closing
    any descriptor of a file drops every SQLite lock this process holds on it. A link, another
    user's file, a missing one, or a file system that refuses (read-only, FAT) is left as it is.
    """
    try:
        found = path.lstat()
        if not stat.S_ISREG(found.st_mode) or found.st_uid != os.geteuid():
            return False
        if not found.st_mode & 0o077:
            return False
        path.chmod(stat.S_IMODE(found.st_mode) & stat.S_IRWXU)  # the owner's bits alone
    except OSError:
        return False
    return True
