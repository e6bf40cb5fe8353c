"""Errors raised by the sync package.

Third-party exceptions (``sqlcipher3``, ``OSError``) are translated where they cross into our
code, so callers — the CLI, the Qt app, the sync client — only ever see this tree. The first
group under ``StoreError`` is what an operator can act on (a banner, an exit message); bugs
stay ordinary exceptions and reach the crash report.

::

    SyncError
    ├── StoreError                  the encrypted local store
    │   ├── StoreNotFoundError      no store at that path (run ``jaga store init``)
    │   ├── StoreExistsError        ``init`` or ``restore`` would overwrite a store
    │   ├── ReplacedStoreUnreadableError   a restore cannot read the store it replaces
    │   ├── ReplacedStoreUnsyncedError     it holds changes the hub never acknowledged
    │   ├── KeySourceError          no passphrase or key file given (or no registration
    │   │                           code), or an unusable one: a key file not a regular
    │   │                           file, or too large
    │   │   └── SameKeyError        a key change to the key the store already has
    │   ├── WrongKeyError           the passphrase or key file does not open this store
    │   ├── NotAStoreError          a foreign file: plain SQLite, random bytes, no key header
    │   ├── StoreCorruptError       truncated or damaged; the integrity check failed
    │   ├── SchemaVersionError      written by a newer Jaga, or older than the caller needs
    │   ├── StoreLockedError        another writer kept the store past the busy timeout
    │   │   └── StoreInUseError     open elsewhere (a restore or rekey refused), or being
    │   │                           restored or re-keyed (an open refused)
    │   ├── StoreFullError          the disk (or the file-size limit) is full
    │   ├── StoreIOError            any other read or write failure of the file system
    │   ├── RecordTooLargeError     a photo or blob over the configured maximum size
    │   ├── RecordConflictError     a unique key (badge, idempotency key) already exists;
    │   │                           a new badge reading as one enrolled (another case)
    │   ├── RecordNotFoundError     no such person, observation or outbox entry
    │   ├── RecordInvalidError      a change the hub's wire schema would refuse (too long, NUL),
    │   │                           or a new badge that is not one-script printable text
    │   ├── PhotoRecordedError      a catch photo recorded before with one of the same fish
    │   │   └── CatchRecordedError  this very catch (its photo's uid) recorded already
    │   └── DuplicateIdentityError  the new face already matches an enrolled person
    ├── UnreadablePhotoError        a photo whose structure cannot be walked to remove its
    │                               metadata (``sync.photo_metadata``), or not a JPEG, PNG, WebP
    ├── CorrectionsExportError      an export of confirmed fish photos cannot be written
    ├── UnknownSpeciesError         a typed species the pack in use does not list (the
    │                               ``store confirm`` namer's refusal; ``--new-species``)
    └── SecretKeyError              the hub's kept signing key file is empty (sync.hub.bootstrap)

Ctrl-C at a prompt for a secret is :class:`PromptInterrupted`, a ``KeyboardInterrupt``: a
command stops as it does for any Ctrl-C, and a CLI that catches it says the secret was not
given (exit status 130).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.store.records import DuplicateMatch, FishObservation


class SyncError(Exception):
    """Base class of every error the sync package raises on purpose."""


class StoreError(SyncError):
    """The local store cannot do what was asked."""


class StoreNotFoundError(StoreError):
    """No store exists at the given path."""


class StoreExistsError(StoreError):
    """A store (or its key header) already exists where a new one would be written."""


class ReplacedStoreUnreadableError(StoreError):
    """A restore cannot read the erasures of the store it would replace."""


class ReplacedStoreUnsyncedError(StoreError):
    """A restore would delete changes the store it replaces holds and the hub never
    acknowledged (``discard_unsynced`` to go on)."""


class RestoreOtherSiteError(StoreError):
    """A restore over a registered store would bring another site's (or another hub's)
    records onto this device, where that site's erasures never reach them."""


class KeySourceError(StoreError):
    """No passphrase or key file was given (nor a code asked for at the same prompt), or the
    key file is unusable."""


class SameKeyError(KeySourceError):
    """The new key of a key change is the store's key already (``sync.store.same_key``):
    refused, nothing written."""


class PromptInterrupted(KeyboardInterrupt):
    """Ctrl-C at a prompt for a passphrase or code; the message says what was not given."""


class WrongKeyError(StoreError):
    """The passphrase or key file does not open this store. Nothing was changed."""


class NotAStoreError(StoreError):
    """The file is not a Jaga store (plain SQLite, random bytes, or its key header is missing)."""


class StoreCorruptError(StoreError):
    """The store is truncated or damaged."""


class SchemaVersionError(StoreError):
    """The store's schema is newer than this Jaga understands, or older than a caller needs
    (the sync client needs the tables of schema version 2)."""


class StoreLockedError(StoreError):
    """Another process held the write lock for longer than the busy timeout."""


class StoreInUseError(StoreLockedError):
    """A restore or key change was refused because another process (or another ``Store`` of
    this one) has the store open, or an open was refused because a restore or key change is
    running. Nothing was changed (``sync.store.in_use``)."""


class KeyNotChangedError(StoreLockedError):
    """A key change failed before it re-encrypted anything: the store keeps its old key.

    Most often another process holds the store, hence a ``StoreLockedError``."""


class StoreFullError(StoreError):
    """The file system (or the process's file-size limit) has no room for the write."""


class StoreIOError(StoreError):
    """The file system failed a read or write for another reason."""


class RecordTooLargeError(StoreError):
    """A record's blob exceeds the configured maximum size."""


class RecordConflictError(StoreError):
    """A record with the same unique key already exists."""


class RecordNotFoundError(StoreError):
    """The requested record does not exist."""


class RecordInvalidError(StoreError):
    """A change the hub would refuse: saved here, it would be quarantined in the outbox and
    never reach the hub, so it is refused before it is saved."""


class PhotoRecordedError(StoreError):
    """A photo with these bytes was recorded before with one of the same fish (the same box,
    or the whole photo): ``earlier`` holds those observations, oldest first.

    Nothing was written. Checked inside the write transaction that would have recorded it,
    so of two writers recording one photo at once, the second sees the first's record.
    """

    def __init__(self, message: str, earlier: Sequence[FishObservation]) -> None:
        super().__init__(message)
        self.earlier = tuple(earlier)


class CatchRecordedError(PhotoRecordedError):
    """This very catch is recorded already: its photo's uid is in the store, written by an
    earlier try whose caller never learned that it committed (an app killed between the
    commit and what it does after). ``earlier`` holds its observations. Nothing was written,
    whether or not the try asked to record a photo recorded before."""


class DuplicateIdentityError(StoreError):
    """The new templates match an enrolled person above the duplicate threshold.

    Nothing was written. The operator sees ``matches`` and may enrol anyway with
    ``accept_duplicates=True`` (twins, a re-enrolment under a new badge).
    """

    def __init__(self, message: str, matches: Sequence[DuplicateMatch]) -> None:
        super().__init__(message)
        self.matches = tuple(matches)


class UnreadablePhotoError(SyncError):
    """A photo whose metadata cannot be removed: not a JPEG, PNG or WebP, or one whose
    segments or chunks cannot be walked (cut short, damaged). Nothing was written."""


class UnknownSpeciesError(SyncError):
    """A species typed for ``jaga store confirm`` that the pack in use lists neither by name
    nor by folder id (the namer ``jaga`` passes refuses it); the message names close ones
    and how to keep it as a new species. Nothing was written."""
