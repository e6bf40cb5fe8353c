"""Where backups and restores put a store's files (``sync.store.backups``): the restored
copy swapped in crash-safely, the store it replaces kept aside (hard links) until then, and
what a killed backup or restore leaves beside the store, named by ``jaga store info`` and
removed by the next restore, ``jaga store erase`` or ``purge-expired``, or an erasure a sync
makes (``drop_replaced_stores``)."""

from __future__ import annotations

import glob
import logging
import os
import shutil
from pathlib import Path

from sync.durable import fsync_path
from sync.errors import StoreIOError
from sync.store import keys
from sync.store.clock import Clock
from sync.store.keys import KeyHeader
from sync.store.store import SIDE_FILES, remove_with_side_files

log = logging.getLogger(__name__)


def remove_killed_restore(target: Path) -> None:
    """Remove what a restore to ``target`` killed before its rename left: its copy, with its
    WAL and header. Only where no restore to ``target`` can be running, that is while holding
    ``target``'s in-use lock.

    Nothing is only there: the copy is the backup (still where it was) with, at most, the
    erasures of the store at ``target`` (still in place: it is renamed over only when the copy
    is complete, and then the copy is gone). It may still hold people erased since the
    backup, which is why it must not stay.
    """
    remove_store_files(restoring_copy(target))


def killed_restore_files(target: Path) -> list[Path]:
    """What a killed restore to ``target`` left (``remove_killed_restore`` removes it)."""
    return sorted(target.parent.glob(glob.escape(restoring_copy(target).name) + "*"))


def replaced_stores(target: Path) -> list[Path]:
    """The files of stores restores replaced at ``target`` and were killed before deleting
    (with their side files and key headers). Each holds everyone it held, people erased since
    too, under the same key."""
    return sorted(target.parent.glob(glob.escape(target.name) + _REPLACED + "*"))


def remove_replaced_stores(target: Path) -> list[Path]:
    """Delete ``replaced_stores(target)``; returns what was deleted. Only while holding
    ``target``'s in-use lock (any open ``Store`` of it does), so that no restore, which keeps
    the store it replaces aside until it is done, is running."""
    found = replaced_stores(target)
    try:
        for path in found:
            path.unlink(missing_ok=True)
    except OSError as error:
        raise StoreIOError(
            f"cannot delete {error.filename}, a store a restore replaced: it still holds"
            f" everyone it held, erased people too; delete it ({error.strerror})"
        ) from error
    if found:
        fsync_path(target.parent)
    return found


def drop_replaced_stores(target: Path) -> None:
    """``remove_replaced_stores`` after an erasure that no command prints for (a sync's: a
    tombstone pulled from the hub, its retention purge): the erased person must not stay
    whole in such a copy, under the same key. What it deleted, or could not, goes to the log;
    the erasure stands either way, and ``jaga store info`` goes on naming a copy left."""
    try:
        deleted = remove_replaced_stores(target)
    except StoreIOError as error:
        log.warning("%s", error)
        return
    if deleted:
        names = ", ".join(path.name for path in deleted)
        log.warning("deleted %s: a store a restore replaced and was stopped before deleting,"
                    " which still held the people erased now", names)  # fmt: skip


def partial_backups(target: Path) -> list[Path]:
    """Copies a killed backup left in ``target``'s folder, with their side files. A backup
    running now in another process writes one too: these are named, never removed here."""
    return sorted(target.parent.glob(f"*{PARTIAL}*"))


def restoring_copy(target: Path) -> Path:
    return target.with_name(target.name + ".restoring")


def keep_aside(target: Path, clock: Clock) -> Path:
    """Hard-link the store at ``target`` (with its header and side files) under a new name,
    leaving it in place until the restored copy replaces it: a crash before then leaves the
    old store working where it was. The name never reuses one: two restores in one second,
    or a clock set back, must not overwrite a store kept aside before."""
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    aside = _unused_name(target, f"{target.name}{_REPLACED}{stamp}")
    try:
        for suffix in _STORE_FILES:
            old = target.with_name(target.name + suffix)
            if old.exists():
                _link_or_copy(old, aside.with_name(aside.name + suffix))
    except OSError as error:
        remove_store_files(aside)
        raise StoreIOError(f"cannot keep {target} aside as {aside}: {error}") from error
    fsync_path(target.parent)
    return aside


def swap_in(partial: Path, target: Path, aside: Path | None) -> None:
    """Put the restored copy and its header at ``target``. Should a step fail, the old store
    (kept at ``aside``) is put back together at ``target``."""
    restored = keys.read_header(partial)
    try:
        # Until the rename, the old file is at ``target``; after it, the copy. A header that
        # offers both keys opens whichever a crash leaves there, and open settles on it.
        old = keys.read_header(aside).current if aside is not None else None
        keys.write_header(target, KeyHeader(current=restored.current, pending=old))
        for suffix in SIDE_FILES:  # the old store's WAL must never be replayed onto the copy
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        partial.replace(target)
        keys.write_header(target, restored)
    except BaseException:
        if aside is not None:
            _put_back(aside, target)
        raise
    keys.header_path(partial).unlink()
    fsync_path(target.parent)


def _put_back(aside: Path, target: Path) -> None:
    for suffix in _STORE_FILES:
        kept = aside.with_name(aside.name + suffix)
        if kept.exists():
            _link_or_copy(kept, target.with_name(target.name + suffix), replace=True)


def _link_or_copy(source: Path, destination: Path, *, replace: bool = False) -> None:
    if replace:
        destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError:  # a file system without hard links
        shutil.copy2(source, destination)


def remove_store_files(path: Path) -> None:
    remove_with_side_files(path)
    keys.header_path(path).unlink(missing_ok=True)


def _unused_name(target: Path, name: str) -> Path:
    candidate, number = target.with_name(name), 1
    while any(candidate.with_name(candidate.name + s).exists() for s in _STORE_FILES):
        number += 1
        candidate = target.with_name(f"{name}-{number}")
    return candidate


_STORE_FILES = ("", *SIDE_FILES, keys.HEADER_SUFFIX)
PARTIAL = ".partial"
_REPLACED = ".replaced-"
