"""Where a ``jaga`` command writes its results, checked when its command line is read.

A benchmark, an evaluation or a training run writes its report or pack only once its work
is done, which can take minutes; a path it cannot write to (a folder named as the report, a
file where a folder must be, a read-only place) used to end that work in a traceback. These
argparse ``type`` functions refuse such a path at once, in one line, before any work: the
command exits with argparse's status 2. Folders missing above the path are fine (each
command makes them). A write can still fail later (a full disk): each command says so in
one line too. ``sync`` keeps its own twin (``sync.cli_errors.output_file``): the two
packages share no code.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def output_file(text: str) -> Path:
    """An argparse ``type``: a file the command will write (``--json``, ``--out R.json``)."""
    path = Path(text)
    problem = "it is a folder" if path.is_dir() else _unwritable(path)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
    return path


def output_folder(text: str) -> Path:
    """An argparse ``type``: a folder the command will write (a species pack, photos)."""
    path = Path(text)
    problem = _unwritable(path)
    if path.exists() and not path.is_dir():
        problem = "it is a file, not a folder"
    if problem is not None:
        raise argparse.ArgumentTypeError(f"cannot write {text}: {problem}")
    return path


def _unwritable(path: Path) -> str | None:
    """Why nothing can be made or replaced at ``path``, or None: the nearest folder above it
    that exists must be one this process can write in (where missing folders, temporary
    siblings and the final rename go)."""
    if path.is_file():
        return None if os.access(path, os.W_OK) else "permission denied"
    above = path.absolute().parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is not a folder"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"cannot write in {above}"
    return None
