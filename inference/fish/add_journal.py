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
is run again whole), and says so; a ``.done`` folder is only deleted. DATA is thus always
found as it was before the add or as the add left it, never between.

A lock on DATA (``flock``, which the kernel drops when its holder dies) keeps a second add
waiting, and keeps a reader from undoing an add still running: training refuses instead.
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

from inference.fish.errors import DatasetError
from inference.pack.files import fsync_directory

log = logging.getLogger(__name__)

WORKING_PREFIX = ".adding-"  # an add under way, or stopped part way
_DONE = ".done"  # its working folder renamed so: the add is complete
_JOURNAL = ".journal"  # hidden: write_tree never makes a species folder of that name
_ASIDE = ".before"


class Journal:
    """The changes one add makes to DATA, each on disk before it is made."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.folder = Path(tempfile.mkdtemp(prefix=WORKING_PREFIX, dir=data))
        self.aside = self.folder / _ASIDE  # copies and files moved out of DATA
        self._log = (self.folder / _JOURNAL).open("a", encoding="utf-8")
        self._touched = {data, self.folder}  # folders whose entries are flushed at commit
        self._done = False
        fsync_directory(self.folder)
        fsync_directory(data)

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
        done = self.folder.with_name(self.folder.name + _DONE)
        self.folder.rename(done)
        self.folder, self._done = done, True
        with contextlib.suppress(OSError):  # the add is made; a later power cut keeps it
            fsync_directory(self.data)

    def back(self) -> None:
        """Undo every change made (none once committed)."""
        self._log.close()
        if not self._done:
            _undo(self.data, self.folder)

    def close(self) -> None:
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write(self, step: str, *paths: Path) -> None:
        relative = [path.relative_to(self.data).as_posix() for path in paths]
        self._log.write(json.dumps([step, *relative]) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())


@contextlib.contextmanager
def adding_lock(data: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold DATA's add lock, waiting for another add to finish first."""
    fd = os.open(data, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"another --add-to into {data} is running; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def settle(data: Path, say: Callable[[str], None]) -> None:
    """Undo each add to ``data`` stopped part way, saying so, and delete what a complete
    one left. The caller holds ``adding_lock``."""
    for found in _working_folders(data):
        folder = found
        if not found.name.endswith(_DONE):
            _undo(data, found)
            folder = found.rename(found.with_name(found.name + _DONE))  # undone, once
            say(
                f"an --add-to into {data} stopped part way (a power cut, or killed) was"
                f" undone from its journal: {data} is as it was before it; run it again"
            )
        shutil.rmtree(folder)


def settle_before_reading(data: Path) -> None:
    """For a reader (training, eval): an add stopped part way is undone first (logged); one
    still running is waited for by no one: the read is refused."""
    if not _working_folders(data):
        return
    fd = os.open(data, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatasetError(
                f"an --add-to into {data} is running; run this again once it is done"
            ) from None
        settle(data, log.warning)
    except OSError as exc:
        raise DatasetError(f"cannot undo the --add-to stopped part way in {data}: {exc}") from exc
    finally:
        os.close(fd)


def _working_folders(data: Path) -> list[Path]:
    """The working folders of adds, those of a release before the journal passed over."""
    found = sorted(data.glob(WORKING_PREFIX + "*"))
    return [f for f in found if f.is_dir() and (f.name.endswith(_DONE) or (f / _JOURNAL).exists())]


def _undo(data: Path, folder: Path) -> None:
    """The journal's changes put back, last first; each only if it was made."""
    for step, *paths in reversed(_steps(folder / _JOURNAL)):
        first, *rest = (data / path for path in paths)
        if step == "kept" and (folder / _ASIDE / first.name).exists():
            (folder / _ASIDE / first.name).replace(first)
        elif step == "absent":
            first.unlink(missing_ok=True)
        elif step == "move" and os.path.lexists(rest[0]) and not os.path.lexists(first):
            rest[0].rename(first)
        elif step == "mkdir" and first.is_dir():
            with contextlib.suppress(OSError):  # a folder holding files was not made empty
                first.rmdir()
        elif step == "rmdir":
            first.mkdir(exist_ok=True)
    for leftover in data.glob(".*.adding"):  # a CSV written aside, not yet renamed in
        leftover.unlink(missing_ok=True)


def _steps(journal: Path) -> list[list[str]]:
    """The journal's whole lines: a line cut short was never acted on."""
    steps = []
    for line in journal.read_text(encoding="utf-8").splitlines(keepends=True):
        with contextlib.suppress(ValueError):
            if line.endswith("\n"):
                steps.append(json.loads(line))
    return steps


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
