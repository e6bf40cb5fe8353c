"""The Catch panel's store work, run on a worker: each job opens the store and closes it.

A store belongs to the thread that opened it (an SQLite connection is not shared across
threads), and a ``QThreadPool`` promises no thread to a later job, so nothing stays open
between jobs. Opening derives the key with scrypt, a fraction of a second at the production
cost: once per officer action (record, confirm, refresh), which is what this pays. No Qt here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from desktop.catch import record_catches
from desktop.catch_errors import KEPT_IN_MEMORY, KEPT_ON_DISK, CatchError, RecordedBeforeError
from desktop.catch_records import CatchRecord
from desktop.catch_spool import CatchSpool
from desktop.catch_time import ObservedTime, observed_time
from desktop.settings import AppSettings, key_source
from sync.errors import CatchRecordedError, StoreError
from sync.store import FishObservation, KeySource, Store, StoreConfig
from sync.store.pending_catches import spool_exists

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
    it is queued for the registered hub."""

    observation: FishObservation
    held_for: str | None


@dataclass(frozen=True)
class Written:
    """A catch the store has: its observations, and when it was dated and why (what ``jaga
    catch`` prints of it: a photo's time not used, a clock that looks wrong)."""

    observations: tuple[FishObservation, ...]
    observed: ObservedTime


@dataclass(frozen=True)
class CatchStore:
    path: Path
    source: KeySource = field(repr=False)
    config: StoreConfig = field(default_factory=StoreConfig)

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

        A catch the store refuses is kept in the spool beside it until it is recorded (the
        refusal says whether it could be); once recorded, or found recorded, its entry is
        deleted. A store that cannot be opened (a disk too full for its shared-memory file,
        a wrong key) keeps nothing either, and its refusal says so."""
        with self._open_to_record() as store:
            written: Written | RecordedBeforeError | CatchRecordedError
            try:
                recorded_at = catch.pressed_at or store.clock.now()
                floor = store.observations.clock_floor()  # the record adds to it: read once
                observations = record_catches(
                    store.observations, catch.photo, catch.fish, catch.details,
                    confirmed_species=catch.confirmed, clock=store.clock, again=catch.again,
                    recorded_at=recorded_at, photo_uid=catch.uid, floor=floor,
                )  # fmt: skip
                dated = observed_time(
                    catch.details.observed_at, catch.photo.time, recorded_at, floor=floor
                )  # the rule record_catches dated the catch by, on the same facts
                written = Written(tuple(observations), dated)
            except (RecordedBeforeError, CatchRecordedError) as recorded_before:
                written = recorded_before
            except StoreError as error:
                raise CatchError(f"{error} ({self._keep(store, catch)})") from error
            self._forget(store, [catch.uid])
            return written

    def _open_to_record(self) -> Store:
        try:
            return self._open()
        except StoreError as error:
            why = "the store could not be opened to keep it beside it"
            raise CatchError(f"{error} ({KEPT_IN_MEMORY}: {why})") from error

    def pending(self) -> list[CatchRecord]:
        """The refused catches kept in the spool, oldest first (none: no spool)."""
        if not spool_exists(self.path):  # the usual case: no store key derived
            return []
        with self._open() as store, CatchSpool.open(store, self.source) as spool:
            return spool.records()

    def forget(self, catches: list[CatchRecord]) -> None:
        """Delete the spool's entries of these catches (dismissed by the officer); a failure
        is raised, not logged alone: the officer is told they come back at the next start."""
        if spool_exists(self.path):
            with self._open() as store, CatchSpool.open(store, self.source) as spool:
                spool.forget([catch.uid for catch in catches])

    def _keep(self, store: Store, catch: CatchRecord) -> str:
        """Keep a refused catch in the spool; what the officer is told of it."""
        try:
            with CatchSpool.open(store, self.source) as spool:
                spool.keep(catch, store.clock.now())
        except (StoreError, OSError) as error:
            _log.warning("catch %s not kept in the spool: %s", catch.photo.path.name, error)
            return f"{KEPT_IN_MEMORY}: {error}"
        return KEPT_ON_DISK

    def _forget(self, store: Store, uids: list[str]) -> None:
        """The spool's entries of these catches, deleted (a failure is logged: an entry
        left behind comes back at the next start, and is then found recorded before)."""
        if not spool_exists(self.path):
            return
        try:
            with CatchSpool.open(store, self.source) as spool:
                spool.forget(uids)
        except (StoreError, OSError) as error:
            _log.warning("pending catches not deleted from the spool: %s", error)

    def flagged(self, limit: int = REVIEW_LIMIT, *, site: bool = False) -> Flagged:
        """The catches recorded on this device flagged for review, newest first (a busy
        site's pulled catches never hide them); ``site``: every boat's, pulled ones too."""
        with self._open() as store:  # one more: are there more?
            found = store.observations.review_queue(limit + 1, include_pulled=site)
        return Flagged(tuple(found[:limit]), len(found) > limit, site)

    def confirm(self, observation_uid: str, species: str, officer: str) -> Reviewed:
        with self._open() as store:
            confirmed = store.observations.confirm(observation_uid, species, officer=officer)
            return Reviewed(confirmed, store.outbox.held_for(observation_uid))

    def answer_not_a_fish(self, observation_uid: str, officer: str) -> Reviewed:
        """What ``jaga store confirm UID --not-a-fish`` stores: reviewed, no species."""
        with self._open() as store:
            answered = store.observations.answer_not_a_fish(observation_uid, officer=officer)
            return Reviewed(answered, store.outbox.held_for(observation_uid))

    def _open(self) -> Store:
        return Store.open(self.path, self.source, config=self.config)
