"""The store: create or open one encrypted database, and reach its parts.

``Store.create`` builds the database under a temporary name and renames it into place only
once it is complete and its key header is written (``sync.store.store_create``), so an
interrupted ``init`` leaves nothing that looks like a store. ``Store.open`` checks the key
against the header *before* it opens the database: a wrong key raises ``WrongKeyError``
without a single byte read or written; a key change or restore interrupted is settled on the
key that opens the file (``sync.store.store_open``). An open store holds the store's in-use
lock shared until it is closed (``sync.store.in_use``): a restore or a key change refuses to
run under it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sync.durable import make_private_folders, narrow_to_owner
from sync.errors import (
    KeyNotChangedError,
    StoreCorruptError,
    StoreError,
    StoreIOError,
)
from sync.store import keys, kiosk_journal, pending_catches, purge_mark
from sync.store.access import AccessLog
from sync.store.audit import CREATED, AuditLog, file_subject
from sync.store.clock import Clock, SystemClock
from sync.store.database import Database, StoreConfig, check_file_looks_encrypted
from sync.store.database_files import SIDE_FILES
from sync.store.face_photo_metadata import strip_face_photos_once
from sync.store.gallery import Gallery, gallery_models, load_gallery
from sync.store.in_use import InUse
from sync.store.key_memory import wipe
from sync.store.keys import KeyHeader, KeySource
from sync.store.observations import Observations
from sync.store.outbox import CATCHES_HELD_SINCE_SCHEMA, HOLDS_SINCE_SCHEMA, Outbox
from sync.store.people import People
from sync.store.records import ModelRef
from sync.store.retention import Retention
from sync.store.same_key import refuse_same_key
from sync.store.schema.migrations import MIGRATIONS, Migration, schema_version
from sync.store.spool_kdf import spool_key_from
from sync.store.spool_key import SpoolKey
from sync.store.store_create import build, check_free, remove_with_side_files
from sync.store.store_open import key_change_lock, open_database

log = logging.getLogger(__name__)

# Importers of these from here before they moved (backups, store init, tests) import them still.
__all__ = [
    "SIDE_FILES",
    "IntegrityReport",
    "Store",
    "check_free",
    "key_change_lock",
    "remove_with_side_files",
]


@dataclass(frozen=True)
class IntegrityReport:
    """``PRAGMA integrity_check`` (or ``quick_check``) plus the audit chain."""

    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class Store:
    """An open store. Use as a context manager, or call ``close``.

    A store belongs to the thread that opened it (an SQLite connection is not shared across
    threads); another thread or process opens its own, and WAL lets readers run beside the
    one writer.
    """

    def __init__(
        self,
        database: Database,
        header: KeyHeader,
        key: bytes,
        clock: Clock,
        in_use: InUse | None = None,
    ) -> None:
        self.database = database
        self._in_use = in_use
        self.header = header
        self._key = key
        self.clock = clock
        with database.translated():
            version = schema_version(database.connection)
        database.tracks_purges = version >= purge_mark.SINCE_SCHEMA
        self.audit = AuditLog(database, clock)
        self.outbox = Outbox(
            database,
            clock,
            self.audit,
            holds=version >= HOLDS_SINCE_SCHEMA,
            holds_catches=version >= CATCHES_HELD_SINCE_SCHEMA,
        )
        self.people = People(database, clock, self.audit, self.outbox)
        self.observations = Observations(database, clock, self.outbox)
        self.access = AccessLog(database, clock, self.audit, self.outbox)
        self.retention = Retention(database, clock, self.audit)

    @property
    def path(self) -> Path:
        return self.database.path

    @classmethod
    def create(
        cls,
        path: Path,
        source: KeySource,
        *,
        clock: Clock | None = None,
        config: StoreConfig | None = None,
        operator: str = "init",
        migrations: tuple[Migration, ...] = MIGRATIONS,
    ) -> Store:
        """Make a new, empty store at ``path``; ``StoreExistsError`` if one is there.

        ``migrations`` is for tests that need a store as an older Jaga made it.
        """
        config = config or StoreConfig()
        check_free(path)
        try:
            make_private_folders(path.parent)
        except OSError as error:  # a file in the way, or no right to make it
            raise StoreIOError(f"cannot make the folder of {path}: {error}") from error
        clock = clock or SystemClock()
        slot, key = keys.new_slot(source, scrypt_n=config.scrypt_n)
        header = KeyHeader(current=slot)

        def record_creation(database: Database) -> None:
            AuditLog(database, clock).record(
                actor=operator,
                action=CREATED,
                subject=file_subject(path),
                details={"schema_version": migrations[-1].version, "key_source": slot.kind},
            )

        in_use = InUse.shared(path)
        try:
            build(path, key, header, config, migrations, record_creation=record_creation)
            database = Database.open(path, key, config, create=False)
        except BaseException:
            in_use.release()
            raise
        return cls(database, header, key, clock, in_use)

    @classmethod
    def open(
        cls,
        path: Path,
        source: KeySource,
        *,
        clock: Clock | None = None,
        config: StoreConfig | None = None,
        migrations: tuple[Migration, ...] = MIGRATIONS,
        in_use: bool = True,
    ) -> Store:
        """Open an existing store, migrating its schema forward if it is older.

        ``in_use=False`` takes no hold on the in-use lock: only for a caller that holds it
        alone (``sole_use``: a restore), or a file nobody else knows of (a restore's copy).
        """
        config = config or StoreConfig()
        clock = clock or SystemClock()
        check_file_looks_encrypted(path)  # "plain SQLite" or "missing" beats "no key header"
        held = InUse.shared(path) if in_use else None
        try:
            database, key, winner = open_database(path, source, config, migrations)
        except BaseException:
            if held is not None:
                held.release()
            raise
        store = cls(database, winner, key, clock, held)
        _narrow_files_made_before(path)
        try:
            strip_face_photos_once(store)  # before the purge it may owe
        except BaseException:
            store.close()
            raise
        _retry_owed_purge(database)
        return store

    def change_key(self, new_source: KeySource, *, operator: str) -> None:
        """Re-encrypt the store under a new passphrase or key file.

        The new slot is written as *pending* first: if the process dies during the rekey,
        ``open`` tries both keys and settles the header on the one the file really has. An
        ``open`` while the change runs (``key_change_lock``) leaves the header alone.
        A connection opened before the rekey would still hold the old key: while anyone else
        has the store open, this raises ``StoreInUseError`` and changes nothing. The catches
        the panel keeps beside the store (``pending_catches``) and the kiosk's decisions
        waiting beside it (``kiosk_journal``) are re-encrypted with it, readable under either
        key until both files are done. The key the store already has
        is refused (``SameKeyError``), before anything is written (``sync.store.same_key``).
        """
        refuse_same_key(self.header, new_source, self.database.config.scrypt_n)
        with self._alone("key change"):
            self._change_key(new_source, operator)

    def _change_key(self, new_source: KeySource, operator: str) -> None:
        slot, key = keys.new_slot(new_source, scrypt_n=self.database.config.scrypt_n)
        # The catches the panel keeps beside the store, and the kiosk's decisions waiting
        # beside it, move with it: re-encrypted beside each file first, put in place once the
        # store has the new key (``pending_catches``, ``kiosk_journal``).
        config = self.database.config
        spool = pending_catches.prepare_key_change(self.path, self._key, key, config)
        try:
            journal = kiosk_journal.prepare_key_change(self.path, self._key, key, config)
        except BaseException:
            pending_catches.abandon_key_change(self.path)
            raise
        with key_change_lock(self.path):
            keys.write_header(self.path, keys.with_pending(self.header, slot))
            try:
                self.database.rekey(key)
            except KeyNotChangedError:
                keys.write_header(self.path, self.header)  # the file kept its old key
                pending_catches.abandon_key_change(self.path)
                kiosk_journal.abandon_key_change(self.path)
                raise
            # Anything else (Ctrl-C, a failed checkpoint) may come after the re-encryption
            # committed: the pending slot stays, and open settles on the key that works.
            self.header = KeyHeader(current=slot)
            keys.write_header(self.path, self.header)
        replaced, self._key = self._key, key
        wipe(replaced)  # unless a caller still holds it
        if spool:
            pending_catches.finish_key_change(self.path, slot)
        if journal:
            kiosk_journal.finish_key_change(self.path)
        self.audit.record(
            actor=operator,
            action="store.rekeyed",
            subject=file_subject(self.path),
            details={"key_source": slot.kind},
        )

    def gallery(self, model: ModelRef) -> Gallery:
        """The templates of one model as numpy arrays (empty if none)."""
        with self.database.read() as connection:
            return load_gallery(connection, model)

    def galleries(self) -> dict[ModelRef, Gallery]:
        """Every model's gallery, from one consistent snapshot."""
        with self.database.read() as connection:
            return {m: load_gallery(connection, m) for m in gallery_models(connection)}

    def integrity(self, *, quick: bool = False) -> IntegrityReport:
        """SQLite's page-level check and the audit chain's hash check."""
        pragma = "quick_check" if quick else "integrity_check"
        try:
            rows = self.database.query(f"PRAGMA {pragma}")
            audit = self.audit.verify()
        except StoreCorruptError as error:  # a page that fails SQLCipher's HMAC stops the check
            return IntegrityReport((str(error),))
        problems = [str(row[0]) for row in rows if row[0] != "ok"]
        if audit.problem is not None:
            problems.append(f"audit chain: {audit.problem}")
        problems.extend(f"access events: {problem}" for problem in audit.events)
        return IntegrityReport(tuple(problems))

    @property
    def key(self) -> bytes:
        """The raw database key (for an encrypted backup). Never log or print it."""
        return self._key

    @property
    def spool_key(self) -> SpoolKey:
        """What opens the catch spool beside the store later, the store closed, no key
        derived; only while the key is still the store's (``sync.store.spool_key``). It
        holds the spool's key derived from the store's (``spool_kdf``), not the store's."""
        derived = spool_key_from(self._key)
        taken = SpoolKey(self.path, bytearray(derived), self.header.current, self.database.config)
        wipe(derived)  # the one copy is the SpoolKey's buffer, which its holder forgets
        return taken

    def check_alone(self, doing: str) -> None:
        """``StoreInUseError`` now if another process has the store open, saying what to
        stop: before the operator is asked for anything (``doing`` checks again)."""
        with self._alone(doing):
            pass

    @contextlib.contextmanager
    def _alone(self, doing: str) -> Iterator[None]:
        """This store's hold on the in-use lock, made the only one for the block."""
        if self._in_use is None:  # opened under the caller's own sole hold
            yield
            return
        self._in_use.make_sole(doing)
        try:
            yield
        finally:
            self._in_use.share()

    def close(self) -> None:
        """Close the database, let go of the in-use lock, and overwrite the key in memory
        unless a caller still holds it (``sync.store.key_memory``)."""
        try:
            self.database.close()
        finally:
            if self._in_use is not None:
                self._in_use.release()
            wipe(self._key)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _narrow_files_made_before(path: Path) -> None:
    """A store made before its files were private (0644 under the usual umask) becomes its
    owner's only once its key is proved: the file is a store, and it is this user's."""
    side_files = (path.with_name(path.name + suffix) for suffix in SIDE_FILES)
    for file in (path, keys.header_path(path), *side_files):
        if narrow_to_owner(file):
            log.warning("%s was readable by others; now by its owner only", file)


def _retry_owed_purge(database: Database) -> None:
    """An erasure whose data a reader kept in the file, here or in a process gone since: purge
    it now if nothing reads (without waiting). Not a reason to refuse the store: a failure is
    logged, the purge stays owed, and the next write or open tries again."""
    try:
        database.retry_owed_purge()
    except StoreError as error:
        log.warning("could not check for an erasure's owed purge: %s", error)
