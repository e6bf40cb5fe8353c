"""The Catch panel's store work, run on a worker: each job opens the store and closes it.

A store belongs to the thread that opened it (an SQLite connection is not shared across
threads), and a ``QThreadPool`` promises no thread to a later job, so nothing stays open
between jobs. Opening derives the key with scrypt, a fraction of a second at the production
cost: once per officer action (record, confirm, refresh), which is what this pays. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop.catch import RecordedBeforeError, record_catches
from desktop.catch_records import CatchRecord
from desktop.settings import AppSettings, key_source
from sync.store import FishObservation, KeySource, Store, StoreConfig

REVIEW_LIMIT = 50  # as many as `jaga store review` shows by default


@dataclass(frozen=True)
class Flagged:
    observations: tuple[FishObservation, ...]  # newest first
    more: bool  # more are flagged than these
    site: bool = False  # the whole site's: those pulled from the hub too


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

    def record(self, catch: CatchRecord) -> list[FishObservation] | RecordedBeforeError:
        """The photo once and one observation per fish, in one transaction, dated as of when
        Record was pressed; or, nothing written, the records of this photo with one of the
        same fish, unless ``catch.again`` (returned, not raised: a warning the officer may
        override, not a failure)."""
        with self._open() as store:
            try:
                return record_catches(
                    store.observations, catch.photo, catch.fish, catch.details,
                    confirmed_species=catch.confirmed, clock=store.clock, again=catch.again,
                    recorded_at=catch.pressed_at,
                )  # fmt: skip
            except RecordedBeforeError as recorded_before:
                return recorded_before

    def flagged(self, limit: int = REVIEW_LIMIT, *, site: bool = False) -> Flagged:
        """The catches recorded on this device flagged for review, newest first (a busy
        site's pulled catches never hide them); ``site``: every boat's, pulled ones too."""
        with self._open() as store:  # one more: are there more?
            found = store.observations.review_queue(limit + 1, include_pulled=site)
        return Flagged(tuple(found[:limit]), len(found) > limit, site)

    def confirm(self, observation_uid: str, species: str, officer: str) -> FishObservation:
        with self._open() as store:
            return store.observations.confirm(observation_uid, species, officer=officer)

    def _open(self) -> Store:
        return Store.open(self.path, self.source, config=self.config)
