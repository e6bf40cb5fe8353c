"""Encrypted backups and restores.

A backup is a page-for-page copy (SQLite's backup API, from one read snapshot, so writers may
go on) into a new database keyed with the same key, plus a copy of the key header: it opens
with the same passphrase or key file, and is never plaintext on disk. Both directions write
under a temporary name, check the result, fsync, and rename: a crash leaves the old file or
the new one, never half of one, and a failure (a full disk) leaves no partial copy behind. A
restore over an existing store first carries that store's erasures into the restored copy
(``sync.store.erasures``): a backup must not bring back a person erased since it was taken.
It refuses, changing nothing, while that store holds changes the hub never acknowledged and
the backup does not hold (a catch, an access decision, an enrolment made since, still queued:
on a boat offline for days, they exist nowhere else), or photos the backup does not hold whose
metadata the hub acknowledged but whose bytes it never confirmed ("photo bytes": the upload
comes after the push, and a dropped link or the per-sync upload limit leaves it for a later
sync), naming how many of each, unless told to discard them (``discard_unsynced``); the
restored store's audit entry says how many it did. A change the backup holds is not lost,
even where its outbox entry left the backup once acknowledged (``sync.store.unsynced``). The
restored copy keeps the replaced store's registration with the hub, whatever the backup's
(``sync.store.registration``): the restored store is still this device, and its audit
anchoring begins at that registration, never before (``sync.store.audit_begins``): a
registration entry the restore appends comes before the entries of the erasures it carries
over, which the hub is then sent. Over a
registered store, a backup of another site or hub, or holding another site's records, is
refused (``sync.store.restore_site``): that site's erasures would never reach them here.
While the copy takes its place, the old files are kept aside under a name no earlier restore
used (hard links, so the old store stays in place until the restored copy replaces it, and is
put back should that fail). Once the restored store has opened and its audit entry is
written, the old store is deleted: it holds everyone it held, with the same key, and no later
erasure would reach it. One a restore killed before then left (``replaced_stores``) is named
by ``jaga store info`` and deleted by the next restore, ``jaga store erase`` or
``purge-expired`` (``remove_replaced_stores``). How the files are put in place, kept aside
and found again is ``sync.store.backup_files``.

A restore holds the store's in-use lock alone from before it reads the store it replaces to
after it deletes it (``sync.store.in_use``): it refuses to run while the app or anything
else has the store open. A restore killed before its rename leaves its copy (``.restoring``)
beside the store; the next backup or restore removes it (``remove_killed_restore``).

The catches the Catch panel keeps for Retry (``pending_catches``: refused by the store, so
in neither the store nor a backup of it) are not copied into a backup: ``jaga store backup``
says how many it leaves out. A restore keeps them beside the restored store, re-encrypted
with it when the replaced store's key was another (crash-safely, as a key change does): a
Retry then records each into the restored store, once. So are the kiosk's decisions waiting
for a busy store (``kiosk_journal``): a restore leaves them for the restored store, whose
kiosk records them at its next start (``discard_unsynced`` too: it discards changes of the
replaced store, and these are in no store; recorded, a decision told at the door keeps its
place in the audit trail), re-encrypted with it, as the spool is, when they are under the
replaced store's key and the backup's is another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sync import plural
from sync.durable import fsync_path, make_private_folders
from sync.errors import (
    ReplacedStoreUnreadableError,
    ReplacedStoreUnsyncedError,
    StoreCorruptError,
    StoreError,
    StoreExistsError,
)
from sync.store import keys, kiosk_journal, kiosk_waiting, pending_catches, unsynced
from sync.store.audit import file_subject
from sync.store.audit_begins import begin_after_restore
from sync.store.backup_files import (
    PARTIAL,
    keep_aside,
    remove_killed_restore,
    remove_replaced_stores,
    remove_store_files,
    restoring_copy,
    swap_in,
)
from sync.store.clock import Clock, SystemClock
from sync.store.database import (
    Database,
    StoreConfig,
    check_file_looks_encrypted,
    copy_private_file,
)
from sync.store.erasures import Erasure, carry_erasures, recorded_erasures
from sync.store.in_use import sole_use
from sync.store.keys import KeyHeader, KeySource
from sync.store.registration import (
    Identity,
    KeptRegistration,
    Rows,
    keep_registration,
    registered_as,
    registration_rows,
)
from sync.store.restore_site import Held, held_of_other_sites, refuse_other_site
from sync.store.store import Store, remove_with_side_files
from sync.store.unsynced import Unsynced


def backup(store: Store, destination: Path, *, operator: str) -> int:
    """Write an encrypted copy of ``store`` to ``destination``; returns its size in bytes."""
    _refuse_existing(destination)
    remove_killed_restore(store.path)  # no restore runs while ``store`` is open
    partial = destination.with_name(destination.name + PARTIAL)
    remove_with_side_files(partial)
    try:
        target = Database.open(partial, store.key, store.database.config, create=True)
        try:
            store.database.backup_to(target)
            _require_intact(target, store.database)
        finally:
            target.close()
        fsync_path(partial)
        keys.write_header(destination, KeyHeader(current=store.header.current))
        partial.replace(destination)
    except BaseException:
        remove_with_side_files(partial)  # a full disk must not keep a half copy on it
        raise
    fsync_path(destination.parent)
    size = destination.stat().st_size
    store.audit.record(
        actor=operator,
        action="store.backed_up",
        subject=file_subject(destination),
        details={"bytes": size},
    )
    return size


@dataclass(frozen=True)
class Restored:
    """Whether a store was replaced (and, the restore done, deleted), how many people
    erased since the backup were erased again in the restored copy, and how many changes the
    replaced store held that the hub never acknowledged and the backup did not hold were
    discarded (both None when the replaced store was not read)."""

    replaced: bool
    erasures_carried: int | None
    unsynced_discarded: int | None = 0
    pending_catches: int | None = 0
    """The catches the Catch panel keeps for Retry beside the store (``pending_catches``),
    kept for the restored store; None: they are under a key it does not have."""
    registration: KeptRegistration | None = None
    """The replaced store's registration, written into the restored copy in place of the
    backup's (none, an earlier one, another device's: ``sync.store.registration``); None:
    the backup's was the same, or the replaced store had none (or was not read)."""
    unchecked_registration: Identity | None = None
    """The backup's registration, kept as it is because the replaced store was not read
    (``carry_erasures`` False): nothing checked that it is this device's, or of its site."""
    kiosk_decisions: int | None = 0
    """The kiosk's decisions waiting beside the store, left for the restored store (its
    kiosk records them at its next start); None: under a key it does not have."""


def restore(
    backup_path: Path,
    target: Path,
    source: KeySource,
    *,
    operator: str,
    force: bool = False,
    carry_erasures: bool = True,
    discard_unsynced: bool = False,
    replaced_source: KeySource | None = None,
    clock: Clock | None = None,
    config: StoreConfig | None = None,
) -> Restored:
    """Put a backup in place as the store at ``target``.

    The replaced store (``force``) has its erasures applied to the restored copy first, and
    is deleted once the restored store is in place. It is read with ``replaced_source`` (its
    key, when that changed since the backup) or else ``source``; if it cannot be read, the
    restore is refused unless ``carry_erasures`` is False (then it is not read at all). While
    it holds outbox entries the hub has not acknowledged (queued, sent or quarantined) that
    the backup does not hold, other than its erasures' tombstones (carried), or photos the
    backup does not hold whose bytes were never uploaded (``sync.store.unsynced``: a change
    the backup holds, queued or its record as the entry sends it, is not lost), the restore is
    refused (``ReplacedStoreUnsyncedError``, naming how many of each kind) unless
    ``discard_unsynced``; nothing is changed then. Over a registered store, a backup of
    another site or hub, or holding another site's records, is refused first
    (``RestoreOtherSiteError``, ``sync.store.restore_site``). The restored copy keeps the
    replaced store's registration with the hub (``sync.store.registration``). While another process
    has the store
    at ``target`` open, the restore is refused (``StoreInUseError``), before anything is read
    or written.
    """
    check_file_looks_encrypted(backup_path)
    header = keys.read_header(backup_path)
    keys.unlock(header, source)  # a wrong key fails here, before anything is copied
    if target.exists() and not force:
        raise StoreExistsError(
            f"{target} exists; pass --force to replace it (it is deleted once the backup is"
            " in place: copy it elsewhere first to keep it)"
        )
    make_private_folders(target.parent)
    with sole_use(target, "restore"):
        return _restore(
            backup_path, header, target, source=source, operator=operator,
            replaced_source=(replaced_source or source) if carry_erasures else None,
            discard_unsynced=discard_unsynced, clock=clock, config=config,
        )  # fmt: skip


def _restore(
    backup_path: Path,
    header: KeyHeader,
    target: Path,
    *,
    source: KeySource,
    operator: str,
    replaced_source: KeySource | None,
    discard_unsynced: bool,
    clock: Clock | None,
    config: StoreConfig | None,
) -> Restored:
    """``restore``, holding the in-use lock alone: every store it opens takes no hold."""
    replaced = _read_replaced(target, replaced_source, config) if replaced_source else None
    partial = restoring_copy(target)
    remove_store_files(partial)
    try:
        copy_private_file(backup_path, partial)
        keys.write_header(partial, header)
        with Store.open(partial, source, clock=clock, config=config, in_use=False) as restored:
            report = restored.integrity()
            if not report.ok:
                raise StoreCorruptError(f"backup {backup_path} is damaged: {report.problems[0]}")
            if replaced:  # before anything else: another site's data has no place here
                refuse_other_site(backup_path, restored, target, here=replaced.registration,
                                  here_held=replaced.held)  # fmt: skip
            waiting = kiosk_waiting.restore_waiting_count(
                target, replaced.key if replaced else None, restored.key, restored.database.config
            )
            discarded = _unsynced_lost(restored, replaced, target, discard=discard_unsynced)
            if replaced and replaced.registration:  # never the chain from before it
                # Before the carried erasures: their entries are this device's, for its hub.
                begin_after_restore(restored, replaced.registration, operator)
            carried = _carry(restored, replaced, operator)
            kept = keep_registration(restored, replaced.registration) if replaced else None
            unchecked = None if replaced else registered_as(restored)
            key, slot, store_config = (
                restored.key,
                restored.header.current,
                restored.database.config,
            )
        fsync_path(partial)
        spool, journal = _prepare_beside(target, replaced, key, store_config)
        moved = keep_aside(target, clock or SystemClock()) if target.exists() else None
        swap_in(partial, target, moved)
    except BaseException:
        remove_store_files(partial)
        pending_catches.abandon_key_change(target)
        kiosk_journal.abandon_key_change(target)
        raise
    if spool:
        pending_catches.finish_key_change(target, slot)
    if journal:
        kiosk_journal.finish_key_change(target)
    with Store.open(target, source, clock=clock, config=config, in_use=False) as store:
        store.audit.record(
            actor=operator,
            action="store.restored",
            subject=file_subject(backup_path),
            details={
                "replaced": file_subject(moved) if moved else None,
                "erasures_carried": carried,
                "unsynced_discarded": discarded,
                "registration_kept": kept is not None,
            },
        )
    remove_replaced_stores(target)  # the restore is done: nothing is put back from it now
    pending = pending_catches.pending_count(target, key, store_config)
    return Restored(moved is not None, carried, discarded, pending, kept, unchecked, waiting)


def _prepare_beside(
    target: Path, replaced: _Replaced | None, key: bytes, config: StoreConfig
) -> tuple[bool, bool]:
    """The catches kept for Retry beside the replaced store, and the kiosk's decisions
    waiting beside it, are not in it, nor in the backup: they stay, for the restored store.
    Under the replaced store's key, when that is not the backup's, they are re-encrypted with
    the store (``Store.change_key``'s way); whether there is a copy of each (the spool, the
    journal) to put in place once the restored store is. A Retry records each
    once: one already in the restored store is found by its uid, or its fish's, as a pull
    brings it back (``CatchRecordedError``); one the backup lacks is recorded as the same
    catch, under the same uids (``desktop.catch_spool``)."""
    if replaced is None or replaced.key is None or replaced.key == key:
        return False, False
    spool = pending_catches.prepare_key_change(target, replaced.key, key, config)
    try:
        journal = kiosk_journal.prepare_key_change(target, replaced.key, key, config)
    except BaseException:
        pending_catches.abandon_key_change(target)
        raise
    return spool, journal


@dataclass(frozen=True)
class _Replaced:
    """What a restore reads of the store it replaces before it writes anything."""

    erasures: list[Erasure]
    unsynced: dict[str, Unsynced]  # by idempotency key: ``sync.store.unsynced``
    unuploaded: frozenset[str] = frozenset()  # photo uids: ``unsynced.unuploaded``
    key: bytes | None = field(default=None, repr=False)  # its key: what its spool is under
    registration: Rows = field(default_factory=dict, repr=False)  # it holds the token
    held: Held = frozenset()  # its rows of other sites: ``sync.store.restore_site``


def _read_replaced(target: Path, source: KeySource, config: StoreConfig | None) -> _Replaced:
    if not target.exists():
        return _Replaced([], {}, frozenset())
    try:
        with Store.open(target, source, config=config, in_use=False) as replaced:
            registration = registration_rows(replaced)
            site = registration.get("site", ("", ""))[0]
            return _Replaced(
                recorded_erasures(replaced), unsynced.unsynced(replaced),
                unsynced.unuploaded(replaced), replaced.key, registration,
                held_of_other_sites(replaced.database, site) if registration else frozenset(),
            )  # fmt: skip
    except (StoreError, ValueError) as error:  # damaged, another key, not a store
        raise ReplacedStoreUnreadableError(
            f"cannot read the erasures recorded in {target}, the store this restore would"
            f" replace ({error}). Without them, people erased since the backup was taken"
            " would come back. If its key changed since the backup, give that key with"
            " --replaced-key-file or JAGA_REPLACED_STORE_PASSPHRASE; if it cannot be read at"
            " all, pass --no-carry-erasures, erase those people again, and sync before use."
        ) from error


def _unsynced_lost(
    restored: Store, replaced: _Replaced | None, target: Path, *, discard: bool
) -> int | None:
    """How many of the replaced store's unacknowledged entries, and never uploaded photos,
    the restored copy lacks (``sync.store.unsynced``); refuses when there are some and
    ``discard`` is False."""
    if replaced is None:
        return None  # not read: the audit entry says so
    lost = unsynced.lost(restored, replaced.unsynced, replaced.unuploaded)
    if lost and not discard:
        kinds = ", ".join(f"{count} {entity}" for entity, count in sorted(lost.items()))
        raise ReplacedStoreUnsyncedError(
            f"{target}, the store this restore would replace, holds"
            f" {plural.counted(lost.total(), 'change')}"
            f" the hub never acknowledged, or photos whose bytes it never received, that the"
            f" backup does not hold ({kinds}); the"
            " restore would delete them. Sync first (`jaga sync now`), or pass"
            " --discard-unsynced to lose them. Nothing was changed."
        )
    return lost.total()


def _carry(restored: Store, replaced: _Replaced | None, operator: str) -> int | None:
    if replaced is None:
        return None  # not read: the audit entry says so
    return carry_erasures(restored, replaced.erasures, operator=operator)


def _refuse_existing(destination: Path) -> None:
    if destination.exists() or keys.header_path(destination).exists():
        raise StoreExistsError(f"{destination} already exists; not overwriting it")


def _require_intact(copy: Database, source: Database) -> None:
    """Refuse a copy that fails its check, naming the store when the damage is the store's
    own: the backup API copies a same-keyed page as it is, a damaged one too."""
    problem = _damage(copy)
    if problem is not None:
        raise _damage_error(source) or StoreCorruptError(
            f"the backup copy failed its check: {problem}"
        )


def _damage_error(database: Database) -> StoreCorruptError | None:
    problem = _damage(database)
    if problem is None:
        return None
    return StoreCorruptError(
        f"{database.path} is damaged ({problem}); no backup was written. Restore an earlier"
        " backup, or run `jaga store info --full-check` for the extent of the damage"
    )


def _damage(database: Database) -> str | None:
    """What ``quick_check`` finds wrong with a database, or None when it passes."""
    try:
        rows = database.query("PRAGMA quick_check")
    except StoreCorruptError as error:  # a page that fails its HMAC stops the check
        return str(error).removeprefix(f"{database.path} is damaged: ")
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    return problems[0] if problems else None
