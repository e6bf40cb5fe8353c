"""The hidden folder ``export-training-set --out OUT`` writes the set in, beside OUT, before
one rename puts it in place (``.OUT.exporting-XXXXXXXX``).

A run killed part way (a power cut) leaves it behind, where no one would look. So each run
holds a ``flock`` on its own staging folder while it writes (the kernel drops it when the
run dies), and the next ``--out`` into the same folder removes each staging folder whose
lock it can take: only a dead run's, never a live one's. Only names of that form are
touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

MARK = ".exporting-"
_STAGING = re.compile(r"\..+" + re.escape(MARK) + r"[a-z0-9_]{8}")  # mkdtemp's 8 letters


@contextlib.contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A new hidden folder beside ``out``, held while the caller writes it, deleted after
    (unless renamed into place); a dead run's left beside it removed first."""
    _remove_dead_runs(out.parent)
    folder, fd = _made_and_held(out)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)  # drops the lock


def _made_and_held(out: Path) -> tuple[Path, int]:
    """Made and locked; made again if a sweep took it between the two."""
    while True:
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name}{MARK}", dir=out.parent))
        fd = os.open(folder, os.O_RDONLY)
        with contextlib.suppress(BlockingIOError, FileNotFoundError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), folder.stat()):
                return folder, fd
        os.close(fd)


def _remove_dead_runs(parent: Path) -> None:
    for found in parent.glob(f".*{MARK}*"):
        if _STAGING.fullmatch(found.name) and found.is_dir() and not found.is_symlink():
            _remove_unless_held(found)


def _remove_unless_held(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return  # gone, or not ours to read
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # a live run's
    else:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)
