"""The store: create or open one encrypted database, and reach its parts.

``Store.create`` builds the database under a temporary name and renames it into place only
once it is complete and its key header is written, so an interrupted ``init`` leaves nothing
that looks like a store. ``Store.open`` checks the key against the header *before* it opens
the database: a wrong key raises ``WrongKeyError`` without a single byte read or written.
An open store holds the store's in-use lock shared until it is closed (``sync.store.in_use``):
a restore or a key change refuses to run under it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sync.durable import fsync_path, make_private_folders, narrow_to_owner
from sync.errors import (
    KeyNotChangedError,
    NotAStoreError,
    StoreCorruptError,
    StoreError,
    StoreExistsError,
    StoreIOError,
    WrongKeyError,
)
from sync.filelock import exclusive, held_elsewhere
from sync.store import keys, pending_catches, purge_mark
from sync.store.access import AccessLog
from sync.store.audit import CREATED, AuditLog, file_subject
from sync.store.clock import Clock, SystemClock
from sync.store.database import Database, StoreConfig, check_file_looks_encrypted
from sync.store.gallery import Gallery, gallery_models, load_gallery
from sync.store.in_use import InUse
from sync.store.keys import KeyHeader, KeySlot, KeySource
from sync.store.observations import Observations
from sync.store.outbox import CATCHES_HELD_SINCE_SCHEMA, HOLDS_SINCE_SCHEMA, Outbox
from sync.store.people import People
from sync.store.records import ModelRef
from sync.store.retention import Retention
from sync.store.same_key import refuse_same_key
from sync.store.schema.migrations import (
    APPLICATION_ID,
    MIGRATIONS,
    Migration,
    migrate,
    schema_version,
)

log = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm", "-journal")


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
            _build(path, key, header, config, migrations, record_creation=record_creation)
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
            database, key, winner = _open_database(path, source, config, migrations)
        except BaseException:
            if held is not None:
                held.release()
            raise
        store = cls(database, winner, key, clock, held)
        _narrow_files_made_before(path)
        _retry_owed_purge(database)
        return store

    def change_key(self, new_source: KeySource, *, operator: str) -> None:
        """Re-encrypt the store under a new passphrase or key file.

        The new slot is written as *pending* first: if the process dies during the rekey,
        ``open`` tries both keys and settles the header on the one the file really has. An
        ``open`` while the change runs (``key_change_lock``) leaves the header alone.
        A connection opened before the rekey would still hold the old key: while anyone else
        has the store open, this raises ``StoreInUseError`` and changes nothing. The catches
        the panel keeps beside the store (``pending_catches``) are re-encrypted with it,
        readable under either key until both files are done. The key the store already has
        is refused (``SameKeyError``), before anything is written (``sync.store.same_key``).
        """
        refuse_same_key(self.header, new_source, self.database.config.scrypt_n)
        with self._alone("key change"):
            self._change_key(new_source, operator)

    def _change_key(self, new_source: KeySource, operator: str) -> None:
        slot, key = keys.new_slot(new_source, scrypt_n=self.database.config.scrypt_n)
        # The catches the panel keeps beside the store move with it: re-encrypted beside the
        # spool first, put in place once the store has the new key (``pending_catches``).
        config = self.database.config
        spool = pending_catches.prepare_key_change(self.path, self._key, key, config)
        with key_change_lock(self.path):
            keys.write_header(self.path, keys.with_pending(self.header, slot))
            try:
                self.database.rekey(key)
            except KeyNotChangedError:
                keys.write_header(self.path, self.header)  # the file kept its old key
                pending_catches.abandon_key_change(self.path)
                raise
            # Anything else (Ctrl-C, a failed checkpoint) may come after the re-encryption
            # committed: the pending slot stays, and open settles on the key that works.
            self.header = KeyHeader(current=slot)
            keys.write_header(self.path, self.header)
        self._key = key
        if spool:
            pending_catches.finish_key_change(self.path, slot)
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
        if not audit.ok:
            problems.append(f"audit chain: {audit.problem}")
        return IntegrityReport(tuple(problems))

    @property
    def key(self) -> bytes:
        """The raw database key (for an encrypted backup). Never log or print it."""
        return self._key

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
        self.database.close()
        if self._in_use is not None:
            self._in_use.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _build(
    path: Path,
    key: bytes,
    header: KeyHeader,
    config: StoreConfig,
    migrations: tuple[Migration, ...],
    *,
    record_creation: Callable[[Database], None],
) -> None:
    """Create the schema and the audit chain's first entry under a temporary name, then
    rename it into place with its header: a store is never found without that entry."""
    building = path.with_name(path.name + ".init")
    remove_with_side_files(building)
    database = Database.open(building, key, config, create=True)
    try:
        with database.translated():
            migrate(database.connection, migrations)
        record_creation(database)
    finally:
        database.close()  # the last close checkpoints and removes the WAL
    keys.write_header(path, header)
    building.replace(path)
    fsync_path(path.parent)


def check_free(path: Path) -> None:
    """``StoreExistsError`` where anything is at ``path``: a new store is never written over
    it (``jaga store init`` asks before it writes a new key file)."""
    if path.exists():
        raise StoreExistsError(f"{path} already exists; not overwriting it")


def key_change_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """Held by a key change from its first header write to its last (a file lock, so other
    processes see it too)."""
    return exclusive(_lock_file(path))


def _key_change_running(path: Path) -> bool:
    """Whether another process is changing this store's key right now (True when it cannot
    tell: leaving the header as it is is always safe)."""
    return held_elsewhere(_lock_file(path))


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


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".key-lock")


def remove_with_side_files(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _open_database(
    path: Path, source: KeySource, config: StoreConfig, migrations: tuple[Migration, ...]
) -> tuple[Database, bytes, KeyHeader]:
    """The database, its key, and the header that goes with it (settled, if a key change was
    interrupted)."""
    header = keys.read_header(path)
    database, key, winner = _open_with_candidates(path, header, keys.unlock(header, source), config)
    try:
        _check_identity(database)
        with database.translated():
            migrate(database.connection, migrations)
    except BaseException:
        database.close()
        raise
    if winner != header and not _key_change_running(path):
        keys.write_header(path, winner)  # finish an interrupted key change, now we know
    return database, key, winner


def _open_with_candidates(
    path: Path,
    header: KeyHeader,
    candidates: list[tuple[bytes, KeyHeader]],
    config: StoreConfig,
) -> tuple[Database, bytes, KeyHeader]:
    for key, candidate in candidates:
        try:
            return Database.open(path, key, config, create=False), key, candidate
        except WrongKeyError:
            continue
    if header.pending is not None and len(candidates) == 1:
        raise WrongKeyError(_interrupted_key_change(path, header, candidates[0][1].current))
    if len(candidates) > 1 or candidates[0][1].current.kind == "passphrase":
        detail = "the key matches its header, but the file does not decrypt with it"
    else:
        detail = "the key file matches its header, but the file does not decrypt with it"
    raise NotAStoreError(f"{path}: {detail}: damaged, or not the file this header belongs to")


def _interrupted_key_change(path: Path, header: KeyHeader, tried: KeySlot) -> str:
    """The file is intact under the other slot's key, most likely: say which to open it with.

    A restore writes the same pending header before it renames its copy over the store; a
    copy still beside the store (``.restoring``) means the restore was killed before that."""
    old, new = (_what(header.current), _what(header.pending or header.current))
    if path.with_name(path.name + ".restoring").exists():
        return (
            f"{path}: a restore was interrupted before it replaced this store: the file here"
            " is still the store it was to replace, and opens with that store's own"
            f" {old}; run the restore again (`jaga store info` names what it left)"
        )
    if tried == header.current:
        return (
            f"{path}: a key change (or a restore) was interrupted and has probably finished:"
            f" the file no longer opens with the old {old}; open it with the new {new} (the"
            " backup's, after a restore), which completes the change"
        )
    return (
        f"{path}: a key change was interrupted before it re-encrypted the file: it still"
        f" opens with the old {old}, not the new {new}"
    )


def _what(slot: KeySlot) -> str:
    return "passphrase" if slot.kind == "passphrase" else "key file"


def _check_identity(database: Database) -> None:
    with database.translated():
        connection: Any = database.connection
        application_id = int(connection.execute("PRAGMA application_id").fetchone()[0])
        version = schema_version(connection)
    if application_id != APPLICATION_ID or version == 0:
        raise NotAStoreError(f"{database.path} is an encrypted database, but not a Jaga store")
