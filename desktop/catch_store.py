"""The Catch panel's store work, run on a worker: each job opens the store and closes it.

A store belongs to the thread that opened it (an SQLite connection is not shared across
threads), and a ``QThreadPool`` promises no thread to a later job, so nothing stays open
between jobs. Opening derives the key with scrypt, a fraction of a second at the production
cost: once per officer action (record, confirm, refresh), which is what this pays, and once
for all the panel reads at start (``at_start``).

A Record keeps its catch on disk before it opens the store: each open takes the spool's key
from the store (``Store.spool_key``), and the next Record opens the spool with it, no key
derived, so the catch is there as soon as it is encrypted and synced, not a key derivation
later (a kill in that second lost it). The key is the spool's, derived from the store's
(``sync.store.spool_kdf``: it opens the spool, not the store), held in memory in one buffer
until ``close`` (the panel closing) or the store's next key overwrites it, never written
(the key source is the app's: ``AppSettings.forget_secrets``); it is used only while the
store still
has the key it was derived from, and never while a restore or key change runs
(``sync.store.spool_key``): otherwise, and before the first open, the Record opens the
store first, as before. No Qt here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from desktop.catch import record_catches
from desktop.catch_errors import KEPT_IN_MEMORY, KEPT_ON_DISK, CatchError, RecordedBeforeError
from desktop.catch_pulled import kept_catch, put_photo, wait_for_a_pull, with_held_fish
from desktop.catch_records import CatchRecord
from desktop.catch_spool import CatchSpool
from desktop.catch_time import ObservedTime, observed_time
from desktop.settings import AppSettings, key_source
from sync.errors import CatchRecordedError, StoreError
from sync.store import FishObservation, KeySource, Store, StoreConfig, SystemClock
from sync.store.catch_written import fish_lacking, missing_fish, whole_of
from sync.store.pending_catches import spool_exists
from sync.store.spool_key import SpoolKey

_log = logging.getLogger(__name__)

REVIEW_LIMIT = 50  # as many as `jaga store review` shows by default


@dataclass(frozen=True)
class Flagged:
    observations: tuple[FishObservation, ...]  # newest first
    more: bool  # more are flagged than these
    site: bool = False  # the whole site's: those pulled from the hub too


@dataclass(frozen=True)
class Reviewed:
    """A catch as an officer's review left it, and the hub the review is held for (a catch
    of a hub this device was registered with before: ``sync.store.outbox_hub``); None when
    it is queued for the registered hub. ``quarantined``: why the review waits in quarantine
    instead (a catch an earlier release recorded with a name the hub refuses:
    ``sync.store.review_entry``); None when it is sent."""

    observation: FishObservation
    held_for: str | None
    quarantined: str | None = None


@dataclass(frozen=True)
class Written:
    """A catch the store has: its observations, and when it was dated and why (what ``jaga
    catch`` prints of it: a photo's time not used, a clock that looks wrong)."""

    observations: tuple[FishObservation, ...]
    observed: ObservedTime


@dataclass(frozen=True)
class AtStart:
    """What the panel reads at start (``CatchStore.at_start``): the catches kept in the spool,
    or why they could not be read, and the review list."""

    kept: tuple[CatchRecord, ...] | StoreError | OSError
    flagged: Flagged


class _TakenKey:
    """The spool's key taken at the store's last open; None: none yet, or no longer the
    store's. One reference, swapped whole: the jobs' threads share it without a lock."""

    value: SpoolKey | None = None
    closed = False  # the panel closed: a job still running takes none again


@dataclass(frozen=True)
class CatchStore:
    path: Path
    source: KeySource = field(repr=False)
    config: StoreConfig = field(default_factory=StoreConfig)
    _spool_key: _TakenKey = field(default_factory=_TakenKey, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, settings: AppSettings) -> CatchStore | None:
        """The app's store and key, or None when no key was given (the store is locked)."""
        source = key_source(settings)
        if source is None:
            return None
        return cls(settings.store_path, source, settings.store_config or StoreConfig())

    def record(self, catch: CatchRecord) -> Written | RecordedBeforeError | CatchRecordedError:
        """The photo once and one observation per fish, in one transaction, dated as of when
        Record was pressed (``Written``, with the time it was dated by and why); or, nothing
        written, the records of this photo with one of the same fish, unless ``catch.again``
        (returned, not raised: a warning the officer may override, not a failure); or,
        nothing written, this very catch's records (``CatchRecordedError``, returned): its
        photo is stored under the catch's uid, so a try that committed before the app died is
        found, even for a catch recorded again.

        The catch is kept in the spool beside the store before the store is asked, so that
        an app killed while the store waits for another writer, or while it writes, loses
        nothing: the next start offers the catch again. Its entry is deleted once the store
        has it, or finds it recorded, or warns that its fish were recorded before (nothing
        written: the officer decides), or refuses it for good (``CatchError``); a refusal to
        retry keeps it there, and says whether it could be kept. The entry's deletion is
        not in the store's transaction (two files): a kill between the two leaves it, and
        the next start finds the catch by its photo's uid and deletes the entry
        (``_still_pending``); a Retry of it would find it so too, and write nothing.

        The catch is kept with the spool's key taken at the store's last open, before the
        store is opened (``_spool_first``); without one, the store is opened first. A store
        that cannot be opened then (a disk too full for its shared-memory file, a wrong key)
        keeps nothing (no key to encrypt it with), and its refusal says so."""
        early = self._spool_first()
        try:
            kept = None if early is None else self._keep(early, catch, SystemClock().now())
            with self._open_to_record(kept) as store:
                return self._record_in(store, early, kept, catch)
        finally:
            if early is not None:
                early.close()

    def _record_in(
        self, store: Store, early: CatchSpool | None, kept: str | None, catch: CatchRecord
    ) -> Written | RecordedBeforeError | CatchRecordedError:
        """``record`` with the store open: the catch kept (``kept`` says how, None: not yet),
        written, and its entry deleted."""
        spool = self._open_spool(store) if early is None else early  # once for both (a checkpoint)
        try:
            if kept is None:
                kept = self._keep(spool, catch, store.clock.now())
            wait_for_a_pull(store, catch, kept)
            try:
                written = self._write(store, catch)
                if isinstance(written, CatchRecordedError):
                    if not self._keep_photo(store, catch):
                        return written  # its entry holds the only bytes of a photo the store lacks
                    written = self._write_missing(store, catch, written)
            except StoreError as error:
                raise CatchError(f"{error} ({kept})") from error
            except CatchError:  # never to be recorded as it is: not to be offered again
                self._forget(spool, catch)
                raise
            self._forget(spool, catch)
            return written
        finally:
            if spool is not early and isinstance(spool, CatchSpool):
                spool.close()

    def _spool_first(self) -> CatchSpool | None:
        """The spool opened with the key taken at the store's last open, before the store
        (no key derived); None without such a key, or once it is no longer the store's, or
        while a restore or key change runs (``SpoolKey.open``): the store is opened first."""
        taken = self._spool_key.value
        if taken is None:
            return None
        try:
            spool = CatchSpool.open_with(taken)
        except (StoreError, OSError) as error:
            _log.warning("the spool did not open before the store: %s", error)
            return None
        if spool is None:  # not the store's now: taken again at the next open
            self._take_spool_key(None)
        return spool

    def _write_missing(
        self, store: Store, catch: CatchRecord, recorded: CatchRecordedError
    ) -> Written | RecordedBeforeError | CatchRecordedError:
        """The fish of ``catch`` the store lacks, recorded on its photo (now in the store),
        when it holds the others (a pull brought back part of it: ``catch_written``); or
        ``recorded``, the store holding every one."""
        missing = missing_fish(store.database, catch.uid, kept_catch(catch))
        if not missing:
            return recorded
        part = replace(
            catch, fish=tuple(catch.fish[n] for n in missing),
            confirmed=tuple(catch.confirmed[n] for n in missing),
            observation_uids=tuple(catch.observation_uids[n] for n in missing),
        )  # fmt: skip
        return self._write(store, part, to_stored_photo=True)

    def _write(
        self, store: Store, catch: CatchRecord, *, to_stored_photo: bool = False
    ) -> Written | RecordedBeforeError | CatchRecordedError:
        recorded_at = catch.pressed_at or store.clock.now()
        floor = store.observations.clock_floor()  # the record adds to it: read once
        try:
            observations = record_catches(
                store.observations, catch.photo, catch.fish, catch.details,
                confirmed_species=catch.confirmed, clock=store.clock, again=catch.again,
                recorded_at=recorded_at, photo_uid=catch.uid, floor=floor,
                observation_uids=catch.observation_uids,
                made_at=catch.pressed_at if catch.from_spool else None,
                to_stored_photo=to_stored_photo,
            )  # fmt: skip
        except (RecordedBeforeError, CatchRecordedError) as recorded_before:
            return recorded_before
        dated = observed_time(
            catch.details.observed_at, catch.photo.time, recorded_at, floor=floor
        )  # the rule record_catches dated the catch by, on the same facts
        return Written(tuple(observations), dated)

    def _open_to_record(self, kept: str | None) -> Store:
        """The store; a refusal says how the catch was kept (``kept``; None: not at all)."""
        try:
            return self._open()
        except StoreError as error:
            if kept is None:
                kept = f"{KEPT_IN_MEMORY}: the store could not be opened to keep it beside it"
            raise CatchError(f"{error} ({kept})") from error

    def pending(self) -> list[CatchRecord]:
        """The catches kept in the spool, oldest first (none: no spool): those refused, and
        those whose Record the app stopped in the middle of (``_still_pending``)."""
        if not spool_exists(self.path):  # before the first Record only: no key derived
            return []
        with self._open() as store:
            return self._still_pending(store)

    def at_start(self, *, site: bool = False) -> AtStart:
        """What the panel shows at start, read in one open of the store: each open derives
        the key (scrypt, 0.5-1 s at the production cost), and a start that opened it once for
        the kept catches and again for the review list paid that twice before its first
        classification, at every start once a spool existed (from the first Record on)."""
        with self._open() as store:
            kept = self._kept_at_start(store)
            return AtStart(kept, self._flagged_in(store, REVIEW_LIMIT, site))

    def _kept_at_start(self, store: Store) -> tuple[CatchRecord, ...] | StoreError | OSError:
        """The kept catches, or what kept them unread: the review list is read all the same."""
        if not spool_exists(self.path):
            return ()
        try:
            return tuple(self._still_pending(store))
        except (StoreError, OSError) as error:
            return error

    def _still_pending(self, store: Store) -> list[CatchRecord]:
        """The spool's catches the store does not hold whole. One it holds was committed by a
        Record or Retry killed before its entry's deletion (two files, two transactions),
        or pulled back from the hub into a store restored to before it
        (``sync.store.catch_written``): its entry is deleted here, not offered as "NOT
        RECORDED" for a Retry that would write nothing; a deletion that fails is logged,
        and tried again at the next start. A pulled catch gets its photo from the entry
        first (photos never travel in pulls); an entry whose photo could not be put in
        stays, logged, for the next start; so does one of which a pull brought back only
        some fish (one the hub had not taken yet is nowhere else): its Retry records the
        rest (``_write_missing``), and a Dismiss loses only those (``with_held_fish``)."""
        with CatchSpool.open(store, self.source) as spool:
            kept = spool.records()
            asked = {catch.uid: kept_catch(catch) for catch in kept}
            photoless = {catch.uid for catch in kept if not self._keep_photo(store, catch)}
            lacking = fish_lacking(store.database, asked)
            written = whole_of(asked, lacking)
            if deletable := [c for c in kept if c.uid in written and c.uid not in photoless]:
                self._forget_written(spool, deletable)
        return [with_held_fish(c, lacking[c.uid]) for c in kept if c.uid not in written]

    @staticmethod
    def _forget_written(spool: CatchSpool, written: list[CatchRecord]) -> None:
        names = ", ".join(f"{catch.name} ({catch.uid})" for catch in written)
        _log.info("catches recorded before the app stopped, deleted from the spool: %s", names)
        try:
            spool.forget([catch.uid for catch in written])
        except (StoreError, OSError) as error:
            _log.warning("recorded catches not deleted from the spool: %s: %s", names, error)

    def forget(self, catches: list[CatchRecord]) -> None:
        """Delete the spool's entries of these catches (dismissed by the officer); a failure
        is raised, not logged alone: the officer is told they come back at the next start.
        A catch a sync pulled back since it was offered gets its photo from the entry
        first; a failure to put it in is raised, and every entry stays."""
        if spool_exists(self.path):
            with self._open() as store, CatchSpool.open(store, self.source) as spool:
                for catch in catches:
                    put_photo(store, catch)
                spool.forget([catch.uid for catch in catches])

    @staticmethod
    def _keep_photo(store: Store, catch: CatchRecord) -> bool:
        """``put_photo``; False: it could not be (logged), and the entry is to stay."""
        try:
            put_photo(store, catch)
        except (StoreError, OSError) as error:
            _log.warning("the photo of catch %s not put in the store: %s", catch.uid, error)
            return False
        return True

    def _open_spool(self, store: Store) -> CatchSpool | str:
        """The spool beside ``store`` (made if there is none); or why it cannot be opened."""
        try:
            return CatchSpool.open(store, self.source)
        except (StoreError, OSError) as error:
            return str(error)

    @staticmethod
    def _keep(spool: CatchSpool | str, catch: CatchRecord, now: datetime) -> str:
        """Keep a catch in the spool until the store has it; what the officer is told of it
        if the store refuses it."""
        if isinstance(spool, str):  # it did not open: why
            why = spool
        else:
            try:
                spool.keep(catch, now)
            except (StoreError, OSError) as error:
                why = str(error)
            else:
                return KEPT_ON_DISK
        _log.warning("catch %s not kept in the spool: %s", catch.photo.path.name, why)
        return f"{KEPT_IN_MEMORY}: {why}"

    @staticmethod
    def _forget(spool: CatchSpool | str, catch: CatchRecord) -> None:
        """The spool's entry of this catch, deleted (a failure is logged: an entry left
        behind comes back at the next start, and is then found recorded). A spool that did
        not open was logged by ``_keep``: an entry an earlier refusal left in it comes back
        so too."""
        if isinstance(spool, str):
            return
        try:
            spool.forget([catch.uid])
        except (StoreError, OSError) as error:
            _log.warning("pending catch %s not deleted from the spool: %s", catch.uid, error)

    def flagged(self, limit: int = REVIEW_LIMIT, *, site: bool = False) -> Flagged:
        """The catches recorded on this device flagged for review, newest first (a busy
        site's pulled catches never hide them); ``site``: every boat's, pulled ones too."""
        with self._open() as store:
            return self._flagged_in(store, limit, site)

    @staticmethod
    def _flagged_in(store: Store, limit: int, site: bool) -> Flagged:
        found = store.observations.review_queue(limit + 1, include_pulled=site)  # more?
        return Flagged(tuple(found[:limit]), len(found) > limit, site)

    def confirm(self, observation_uid: str, species: str, officer: str) -> Reviewed:
        with self._open() as store:
            confirmed = store.observations.confirm(observation_uid, species, officer=officer)
            return _reviewed(store, confirmed)

    def answer_not_a_fish(self, observation_uid: str, officer: str) -> Reviewed:
        """What ``jaga store confirm UID --not-a-fish`` stores: reviewed, no species."""
        with self._open() as store:
            answered = store.observations.answer_not_a_fish(observation_uid, officer=officer)
            return _reviewed(store, answered)

    def _open(self) -> Store:
        store = Store.open(self.path, self.source, config=self.config)
        self._take_spool_key(store.spool_key)  # the next Record keeps its catch with it
        return store

    def _take_spool_key(self, taken: SpoolKey | None) -> None:
        """Hold ``taken`` from now on, the key held until now overwritten; or keep the one
        held when ``taken`` is the same key, ``taken`` overwritten: one buffer of it at most."""
        held = self._spool_key.value
        if taken is not None and (self._spool_key.closed or (held and held.same_key(taken))):
            taken.forget()
            return
        self._spool_key.value = taken
        if held is not None:
            held.forget()

    def close(self) -> None:
        """The panel closes: the spool's key it held is overwritten (a later Record opens
        the store first; a job that outlived the panel's stop takes none)."""
        self._spool_key.closed = True
        self._take_spool_key(None)


def _reviewed(store: Store, observation: FishObservation) -> Reviewed:
    """The review with where its entry went: held for a hub, or waiting in quarantine."""
    uid = observation.observation_uid
    return Reviewed(observation, store.outbox.held_for(uid), store.outbox.quarantine_reason(uid))
