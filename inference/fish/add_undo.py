"""The undo of an ``--add-to``'s journal (``add_journal``): its changes put back, last
first, each only if it was made, so an undo stopped part way is run again whole.

An undo goes on past a step that fails (a full disk refusing a folder made again): each is
named, and the journal is kept, so that the next reader retries once the cause is mended.
A CSV the add rewrote is put back, and one it made is deleted, only while it still holds
bytes the add wrote (their sha256 is journaled before each rename): one edited or made by
hand after a kill is the user's, and is left and named. A whole undo is flushed to disk
before its folder is renamed ``.done``: a power cut must not keep the rename and lose the
undo.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from inference.fish.errors import DatasetError
from inference.pack.files import fsync_directory

DONE = ".done"  # a working folder renamed so: the add is complete, or wholly undone
JOURNAL = ".journal"  # hidden: write_tree never makes a species folder of that name
ASIDE = ".before"


def undo_whole(data: Path, folder: Path) -> tuple[Path, list[str]]:
    """Undo the journal in ``folder`` and mark it done: the folder renamed, and the CSVs
    left as the user changed them. ``DatasetError`` names each step that failed; the
    journal is then kept as it is. ``data`` and ``folder`` are absolute."""
    steps = _steps(folder / JOURNAL)
    wrote: dict[str, set[str]] = {}
    for line in steps:
        if line[0] == "wrote":
            wrote.setdefault(line[1], set()).add(line[2])
    failed, changed = [], []
    for step, *cells in reversed(steps):
        try:
            if not _put_back(data, folder, step, cells, wrote.get(cells[0], set())):
                changed.append(cells[0])
        except OSError as exc:
            failed.append(f"{_in_data(cells, folder)} ({exc.strerror or exc})")
    failed += _flushed(data, steps)
    if failed:
        raise DatasetError(
            f"could not put back {', '.join(failed)}; its journal ({folder.name}) is kept:"
            " the next --add-to, fish train or fish eval puts the rest back once that is mended"
        )
    done = folder.rename(folder.with_name(folder.name + DONE))
    with contextlib.suppress(OSError):  # undone and flushed: only the mark could be lost
        fsync_directory(data)
    return done, sorted(set(changed))


def _put_back(data: Path, folder: Path, step: str, cells: list[str], wrote: set[str]) -> bool:
    """One step undone; False where a CSV was left because it changed since the add."""
    first = data / cells[0]
    if step == "kept" and (folder / ASIDE / first.name).exists():
        copy = folder / ASIDE / first.name
        kept = sha256(copy)
        if not _holds(first, wrote | {kept}):
            return False
        if not first.exists() or sha256(first) != kept:  # one the add had not yet rewritten
            copy.replace(first)  # is left be (a read-only DATA names only what differs)
    elif step == "absent" and first.exists():
        if not _holds(first, wrote):
            return False
        first.unlink()
    elif step == "move" and os.path.lexists(data / cells[1]) and not os.path.lexists(first):
        (data / cells[1]).rename(first)
    elif step == "mkdir" and first.is_dir():
        with contextlib.suppress(OSError):  # a folder holding files was not made empty
            first.rmdir()
    elif step == "rmdir":
        first.mkdir(exist_ok=True)
    return True


def _in_data(cells: list[str], folder: Path) -> str:
    """The step's file as the user sees it: a photo moved, named where it lies in DATA, not
    in the working folder."""
    return next((cell for cell in cells if not cell.startswith(folder.name)), cells[0])


def _holds(path: Path, shas: set[str]) -> bool:
    """``path`` is gone, or holds one of ``shas``: nothing of the user's to lose."""
    return not path.exists() or sha256(path) in shas


def _flushed(data: Path, steps: list[list[str]]) -> list[str]:
    """The folders the undo renamed in and out of flushed (the restored CSVs' bytes were
    flushed when kept), and the CSVs written aside deleted: what could not be, named."""
    failed = []
    for leftover in data.glob(".*.adding"):  # a CSV written aside, not yet renamed in
        try:
            leftover.unlink(missing_ok=True)
        except OSError as exc:
            failed.append(f"{leftover.name} ({exc.strerror or exc})")
    folders = {data} | {(data / cell).parent for step, *cells in steps for cell in cells[:2]}
    for folder in sorted(folders):
        if folder.is_dir():
            try:
                fsync_directory(folder)
            except OSError as exc:
                failed.append(f"{folder} (not flushed: {exc.strerror or exc})")
    return failed


def _steps(journal: Path) -> list[list[str]]:
    """The journal's whole lines: a line cut short was never acted on."""
    steps = []
    for line in journal.read_text(encoding="utf-8").splitlines(keepends=True):
        with contextlib.suppress(ValueError):
            if line.endswith("\n"):
                steps.append(json.loads(line))
    return steps


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
