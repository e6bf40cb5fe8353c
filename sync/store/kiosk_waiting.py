"""The file beside a store where its kiosk keeps the decisions the store refused
(``<store>.kiosk-waiting``), as far as the store's own operations need to know of it.

The kiosk (``desktop.kiosk.journal``) writes there, under the store's key, each decision a
busy or full store could not take yet, and writes them to the store at its next start. A key
change in between would leave that file under the old key, which the kiosk then cannot read:
``Store.change_key`` asks here first, and refuses while decisions wait, so that none is lost;
a restore (``sync.store.backups``) refuses while they wait under a key the backup's is not,
for the same reason. Being in neither the store nor its audit chain nor its backups, they
are named by ``jaga store info``, ``backup``, ``export`` and ``audit verify``.
"""

from __future__ import annotations

import glob
from pathlib import Path

from sync import plural
from sync.errors import KioskDecisionsWaitingError, StoreError, WrongKeyError
from sync.store.database import Database, StoreConfig
from sync.store.database_files import SIDE_FILES

SUFFIX = ".kiosk-waiting"
SET_ASIDE = ".unreadable-"  # then the time: a journal the kiosk found under another key


def waiting_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def set_aside_path(store_path: Path, stamp: str) -> Path:
    return store_path.with_name(waiting_path(store_path).name + SET_ASIDE + stamp)


def set_aside_journals(store_path: Path) -> list[Path]:
    """The journals the kiosk set aside beside the store, under a key it no longer has:
    their decisions were never recorded (their side files not listed)."""
    pattern = glob.escape(waiting_path(store_path).name + SET_ASIDE) + "*"
    found = store_path.parent.glob(pattern)
    return sorted(path for path in found if not path.name.endswith(SIDE_FILES))


def waiting_count(store_path: Path, key: bytes, config: StoreConfig) -> int | None:
    """How many decisions wait beside the store (0: no file, or none in it); None when this
    key does not open it (one under another key, which the kiosk sets aside)."""
    path = waiting_path(store_path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        database = Database.open(path, key, config, create=False)
    except WrongKeyError:
        return None
    try:
        if not database.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name='waiting'"):
            return 0
        return int(database.query("SELECT count(*) FROM waiting")[0][0])
    finally:
        database.close()


def waiting_note(store_path: Path, key: bytes, config: StoreConfig, noun: str) -> str | None:
    """What an operator is told of the decisions (named ``noun``) waiting beside the store:
    they are in neither the store nor its audit chain nor its backups. None when none wait."""
    name = waiting_path(store_path).name
    try:
        count = waiting_count(store_path, key, config)
    except StoreError as error:
        return f"cannot read {name}: {error}"
    if count is None:
        return (
            f"{noun}s kept in {name} under another key than the store's: the kiosk sets the"
            " file aside at its next start, unrecorded"
        )
    if not count:
        return None
    return (
        f"{plural.counted(count, noun)} waiting in {name}, not in the store yet: the kiosk"
        f" records {'it' if count == 1 else 'them'} once the store is free, or at its next start"
    )


def refusal(count: int, store_path: Path, then: str) -> KioskDecisionsWaitingError:
    """The refusal of an operation that would leave ``count`` decisions where the kiosk
    cannot read them; ``then``: what to do once it has recorded them."""
    decisions = plural.counted(count, "kiosk decision")
    return KioskDecisionsWaitingError(
        f"{decisions} {'waits' if count == 1 else 'wait'} in {waiting_path(store_path)}, kept"
        f" while the store was busy: start the kiosk once (it records them as it starts), {then}"
    )


def refuse_restore_losing_them(
    store_path: Path, replaced_key: bytes | None, restored_key: bytes, config: StoreConfig
) -> int | None:
    """How many decisions wait beside the store a restore replaces that the restored store's
    key opens (the kiosk's next start records them into it); None when it does not open them
    and the replaced store's key was not given or does not either (the kiosk sets the file
    aside, as it would have without the restore). Under the replaced store's key alone they
    would be set aside because of the restore: refused, nothing changed."""
    count = waiting_count(store_path, restored_key, config)
    if count is not None:
        return count
    stranded = waiting_count(store_path, replaced_key, config) if replaced_key else None
    if stranded:
        raise refusal(
            stranded,
            store_path,
            "then restore. They are under the key of the store the restore replaces, which the"
            " backup's is not: the restored store could not read them. Nothing was changed.",
        )
    return None
