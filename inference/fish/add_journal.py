"""An ``--add-to`` stopped part way by a power cut or a kill is undone, from its journal, by
whatever reads DATA next: the next add, training, ``fish eval``.

An add changes several files of DATA (photos moved in and out, ``added-corrections.csv``,
``groups.csv``, ``species.csv``, emptied folders removed); no one rename does it all. So it
works in a hidden folder of DATA (``.adding-XXXX``, which training passes over) holding a
journal: each change is written there, and flushed to disk, before it is made, with what
puts it back (a copy of each CSV is kept beside it first). Once every change is on disk the
folder is renamed ``.adding-XXXX.done`` — that one rename is the add's commit — and then
deleted. Whoever finds a folder without ``.done`` undoes its journal's changes, last first
(renames, which need no space, each done only if it was made, so an undo stopped part way
is run again whole), going on past a step that fails; an undo that could not put back every
step keeps the journal for the next reader, and says what it could not. A CSV is put back
(or deleted) only while it holds the bytes the add wrote (their sha256 is in the journal):
one edited or made by hand since is left, and named. A finished undo is flushed to disk and
then renamed ``.done`` as a commit is; a ``.done`` folder is only deleted (and, on a
read-only copy of DATA, read past). DATA is thus always found as it was before the add or as
the add left it, never between.

A lock on DATA (``flock``, which the kernel drops when its holder dies) keeps a second add
waiting, and keeps a reader from undoing an add still running: training refuses instead. A
reader holds it shared while it reads DATA (``flock`` needs no write access, so a read-only
copy is read too): training from its scan until its last photo is read
(``dataset.reading``), so an add that starts meanwhile waits for it rather than moving
photos in half-way through the scan, or taking back a photo training has yet to read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from inference.fish.add_undo import ASIDE, DONE, JOURNAL, sha256, undo_whole
from inference.fish.errors import DatasetError
from inference.pack.files import fsync_directory, replace_durably
from inference.pack.lock import lock_waiting

log = logging.getLogger(__name__)

WORKING_PREFIX = ".adding-"  # an add under way, or stopped part way


class Journal:
    """The changes one add makes to DATA, each on disk before it is made."""

    def __init__(self, data: Path) -> None:
        self.data = data.absolute()  # mkdtemp answers an absolute path on Python 3.12
        self.folder = Path(tempfile.mkdtemp(prefix=WORKING_PREFIX, dir=self.data))
        self.aside = self.folder / ASIDE  # copies and files moved out of DATA
        self._log = (self.folder / JOURNAL).open("a", encoding="utf-8")
        self._touched = {self.data, self.folder}  # folders whose entries are flushed at commit
        self.done = False  # committed, or wholly undone: the folder may go
        self.committed = False  # the add is complete
        fsync_directory(self.folder)
        fsync_directory(self.data)

    def keep(self, path: Path) -> None:
        """A copy of ``path`` as it is (or that it is absent), put back on undo."""
        if not path.exists():
            self._write("absent", path)
            return
        self.aside.mkdir(exist_ok=True)
        copy = self.aside / path.name
        shutil.copy2(path, copy)
        _fsync_file(copy)
        fsync_directory(self.aside)
        self._write("kept", path)

    def replace(self, temporary: Path, final: Path) -> None:
        """``temporary`` renamed over a kept ``final``, its sha256 journaled first: the undo
        puts back only a file that still holds what the add wrote."""
        self._write("wrote", final, sha256(temporary))
        replace_durably(temporary, final)

    def move(self, source: Path, target: Path) -> None:
        self._folder(target.parent)
        if source.is_file():
            _fsync_file(source)  # its bytes on disk before its name can be
        self._write("move", source, target)
        source.rename(target)
        self._touched |= {source.parent, target.parent}

    def _folder(self, folder: Path) -> None:
        """``folder`` and its missing parents made, each removed again on undo."""
        if folder.is_dir():
            return
        self._folder(folder.parent)
        self._write("mkdir", folder)
        folder.mkdir()
        self._touched.add(folder.parent)

    def remove_folder(self, folder: Path) -> None:
        self._write("rmdir", folder)
        folder.rmdir()
        self._touched.add(folder.parent)

    def commit(self) -> None:
        """Every change flushed, then the one rename that makes the add complete."""
        for folder in self._touched:
            if folder.is_dir():
                fsync_directory(folder)
        self._log.close()
        done = self.folder.with_name(self.folder.name + DONE)
        self.folder.rename(done)
        self.folder, self.done, self.committed = done, True, True
        with contextlib.suppress(OSError):  # the add is made; a later power cut keeps it
            fsync_directory(self.data)

    def back(self) -> list[str]:
        """Undo every change made (none once committed); the CSVs changed since the add
        wrote them, left as they are. A step that could not be put back raises
        ``DatasetError`` and keeps the journal, for the next reader of DATA to retry."""
        self._log.close()
        if self.done or self._renamed_done():
            return []
        self.folder, changed = undo_whole(self.data, self.folder)
        self.done = True
        return changed

    def _renamed_done(self) -> bool:
        """Whether the commit's rename was made though ``commit`` was stopped (a Ctrl-C)
        before it could say so: the add is complete."""
        done = self.folder.with_name(self.folder.name + DONE)
        if self.folder.exists() or not done.is_dir():
            return False
        self.folder, self.done, self.committed = done, True, True
        return True

    def close(self) -> None:
        """The working folder deleted, once the add is complete or wholly undone."""
        self._log.close()
        if self.done:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _write(self, step: str, *paths: Path | str) -> None:
        cells = [
            path.absolute().relative_to(self.data).as_posix() if isinstance(path, Path) else path
            for path in paths
        ]
        self._log.write(json.dumps([step, *cells]) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())


@contextlib.contextmanager
def adding_lock(data: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold DATA's add lock, waiting for another add to finish first."""
    fd = os.open(data, os.O_RDONLY)
    try:
        waiting = (
            f"another --add-to into {data}, or training or eval reading it, is running;"
            " waiting for it to finish"
        )
        lock_waiting(fd, on_wait, waiting)
        yield
    finally:
        os.close(fd)  # drops the lock


def settle(data: Path, say: Callable[[str], None]) -> None:
    """Undo each add to ``data`` stopped part way, saying so, and delete what a complete
    one left. The caller holds ``adding_lock``."""
    try:
        for found in _working_folders(data):
            folder = found
            if not found.name.endswith(DONE):
                folder, changed = undo_whole(data.absolute(), found.absolute())
                say(
                    f"an --add-to into {data} stopped part way (a power cut, or killed) was"
                    f" undone from its journal: {data} is as it was before it{but_for(changed)};"
                    " run it again"
                )
            with contextlib.suppress(OSError):  # a read-only copy: the add is settled anyway
                shutil.rmtree(folder)
    except (OSError, DatasetError) as exc:  # a read-only DATA; a step not put back
        raise DatasetError(f"cannot undo the --add-to stopped part way in {data}: {exc}") from exc


@contextlib.contextmanager
def held_for_reading(data: Path) -> Iterator[None]:
    """For a reader (training, eval): DATA's lock held shared while the caller scans it, an
    add stopped part way undone first (logged), a complete one's leftover folder deleted
    where DATA may be written. An add still running is waited for by no one: the read is
    refused."""
    while True:
        fd = _locked(data, fcntl.LOCK_SH)
        if not [f for f in _working_folders(data) if not f.name.endswith(DONE)]:
            break
        os.close(fd)  # the undo needs the lock alone; then look again
        settle_fd = _locked(data, fcntl.LOCK_EX)
        try:
            settle(data, log.warning)
        finally:
            os.close(settle_fd)
    try:
        for complete in _working_folders(data):  # no add runs: their commits were made
            shutil.rmtree(complete, ignore_errors=True)  # a read-only copy: read past
        yield
    finally:
        os.close(fd)


def _locked(data: Path, kind: int) -> int:
    """DATA opened and locked (``kind``), or refused while an add holds it."""
    fd = os.open(data, os.O_RDONLY)
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatasetError(
            f"an --add-to into {data} is running; run this again once it is done"
        ) from None
    return fd


def but_for(changed: list[str]) -> str:
    """What an undo left: the CSVs changed by hand since the add wrote them."""
    if not changed:
        return ""
    return (
        f", but for {', '.join(changed)}, left as found: changed by hand since the add wrote"
        " it (check it)"
    )


def _working_folders(data: Path) -> list[Path]:
    """The working folders of adds, those of a release before the journal passed over."""
    found = sorted(data.glob(WORKING_PREFIX + "*"))
    return [f for f in found if f.is_dir() and (f.name.endswith(DONE) or (f / JOURNAL).exists())]


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
