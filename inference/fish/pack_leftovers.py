"""What a write of a species pack leaves beside it when it is killed half-way, and putting
that right: its staging folder, and the pack before, retired aside between the two renames.

Apart from ``inference.fish.pack`` (the write) because the reader needs it too:
``load_pack`` (``inference.fish.pack_reading``) puts a retired pack back before it reads, so
a killed write never leaves a reader without the pack before. ``jaga models install`` undoes
a killed write's leftovers under its install lock (``undo_interrupted_writes``).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from inference.fish.pack_format import MANIFEST
from inference.pack.files import fsync_directory

# A write stages its pack in ``.<name>.<8 characters>`` beside ``<name>``, and sets the pack
# before aside as that name plus ``.old``. The 8 characters hold no dot, so the folders of a
# pack whose name only starts the same (``reef.v2`` beside ``reef``) never pass for ``reef``'s.
# Releases before this one named them so too (``tempfile.mkdtemp``'s [a-z0-9_]{8}).
_WRITE_SUFFIX = r"[a-z0-9_]{8}"
RETIRED = ".old"


@dataclass(frozen=True)
class Leftovers:
    """What :func:`undo_interrupted_writes` did."""

    restored: bool  # the pack before was put back in its place
    removed: int  # staging and retired folders removed


def undo_interrupted_writes(destination: Path) -> Leftovers:
    """Undo what a :func:`write_pack` into ``destination`` killed half-way left beside it
    (SIGKILL or a power cut run no cleanup): its staging folder, and the pack before,
    retired as ``.<name>.XXXXXXXX.old``. That one is put back when nothing took its place
    (killed between the two renames, :func:`restore_retired`), else removed. Only call this
    where no other write into ``destination`` runs (``jaga models install`` holds the pack's
    install lock)."""
    restored = restore_retired(destination)
    leftovers = _write_folders(destination, "", RETIRED)
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return Leftovers(restored, len(leftovers))


def holds_pack(root: Path) -> bool:
    """Whether ``root`` holds a pack (its manifest is there), once the pack before a write
    killed between its two renames left set aside is put back (:func:`restore_retired`).
    What every check for an installed pack asks: the manifest alone says "none" until
    :func:`load_pack` happens to put it back."""
    restore_retired(root)
    return (root / MANIFEST).is_file()


def restore_retired(destination: Path) -> bool:
    """Put back the pack a :func:`write_pack` killed between its two renames left retired
    beside an empty ``destination`` (the newest, if several); True if one was.

    Only a rename, safe without a lock: :func:`load_pack` and each write call it, so a
    reader, or the next ``jaga fish train|combine``, finds the pack before whole where it
    was. A concurrent reader that put it back first, or a folder that cannot be written
    (read-only media), leaves this one with nothing to do.
    """
    parent = destination.parent
    if destination.exists() or not parent.is_dir():
        return False
    retired = [p for p in _write_folders(destination, RETIRED) if (p / MANIFEST).is_file()]
    if not retired:
        return False
    try:
        max(retired, key=lambda path: path.stat().st_mtime).rename(destination)
    except OSError:
        return False
    fsync_directory(parent)
    return True


def _write_folders(destination: Path, *endings: str) -> list[Path]:
    """The folders beside ``destination`` named as a write into it names them: its staging
    folder ``.<name>.XXXXXXXX`` followed by one of ``endings`` ("", or ``.old``)."""
    if not destination.parent.is_dir():
        return []
    ending = "|".join(map(re.escape, endings))
    name = re.compile(re.escape(f".{destination.name}.") + _WRITE_SUFFIX + f"(?:{ending})")
    return sorted(p for p in destination.parent.iterdir() if name.fullmatch(p.name))
