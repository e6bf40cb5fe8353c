"""The catch spool's key, taken from the store while it is open, to open the spool later
without the store: no key derived (``desktop.catch_store``: a Record keeps its catch first).

Opening the store derives its key (scrypt: a second or more at the production cost on a
busy laptop). The Catch panel opens the store for each job, and a Record opened it before it
kept its catch in the spool (``pending_catches``): a kill in that second (a flat battery,
the app killed) lost the catch the officer believed recorded. ``Store.spool_key`` gives what
opening the spool takes (its key and the store's key slot it goes with); ``SpoolKey.open``
opens the spool with it alone.

The spool is under a key derived from the store's (HKDF, ``sync.store.spool_kdf``: the
store's key change, backup and restore move it as they do), and that derived key is all that
is taken: it opens the spool and nothing else, and never gives the store's key back. Whoever
keeps it holds it in memory only, in a buffer that ``forget`` overwrites (the panel, until
it closes or takes the store's next one), never writes it, and never shows it (``repr``).
It is used only while it is the store's:

* the spool is opened with the store's in-use lock held shared, as ``Store.open`` holds it
  (``sync.store.in_use``), and kept so until it is closed: a restore or key change, which
  copies the spool and puts its copy in place, never runs while a catch is written to it
  (one running now: ``None``);
* under that lock the store's key header still names the slot the key was taken with, and
  no key pending: after a key change or restore since (``jaga store rekey`` in another
  process), the spool it moved, or one made now, is under another key (``None``);
* a spool the key does not open (one left under an earlier key, or under the store's raw
  key by an earlier release: the store's open re-encrypts that one) is ``None`` as well.

``None`` tells the caller to open the store (deriving its key), as it did before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sync.errors import StoreInUseError, WrongKeyError
from sync.store import keys
from sync.store.database import Database, StoreConfig
from sync.store.in_use import InUse
from sync.store.key_memory import overwrite, zero
from sync.store.keys import KeyHeader, KeySlot
from sync.store.pending_catches import open_spool_with


@dataclass(frozen=True)
class HeldSpool:
    """The spool, open, and the store's in-use lock held for it: ``release`` after closing."""

    database: Database
    held: InUse = field(repr=False)

    def release(self) -> None:
        self.held.release()


@dataclass(frozen=True)
class SpoolKey:
    """What opens the spool beside the store at ``store_path`` without the store."""

    store_path: Path
    # The spool's key (not the store's): never log or print it. Empty once forgotten.
    key: bytearray = field(repr=False, compare=False)
    slot: KeySlot  # the store's key slot the key was taken with
    config: StoreConfig

    def same_key(self, other: SpoolKey) -> bool:
        """Whether ``other`` opens the same spool with the same key (taken at another open)."""
        return (self.store_path, self.slot, self.key) == (other.store_path, other.slot, other.key)

    def forget(self) -> None:
        """Overwrite the key: this no longer opens the spool (``open`` says None)."""
        zero(self.key)

    def open(self) -> HeldSpool | None:
        """The spool (made if there is none), the in-use lock held shared for it; None while
        a restore or key change runs, or once this key is no longer the store's."""
        try:
            held = InUse.shared(self.store_path)
        except StoreInUseError:
            return None
        try:
            database = self._open_if_current()
        except BaseException:
            held.release()
            raise
        if database is None:
            held.release()
            return None
        return HeldSpool(database, held)

    def _open_if_current(self) -> Database | None:
        if not self.key or keys.read_header(self.store_path) != KeyHeader(current=self.slot):
            return None  # forgotten, another key since, or a key change cut short
        key = bytes(self.key)  # for this open only
        try:
            return open_spool_with(self.store_path, key, self.slot, self.config)
        except WrongKeyError:  # under an earlier key, or an earlier release's: the store's open
            return None
        finally:
            overwrite(key)
