"""Catches not yet in the store, kept on disk beside it until they are recorded.

A Record the store refuses (another process holds it, the disk is full) waits in the panel
for Retry (``CatchRecords``). Held only in memory, it was lost with the app: an out-of-memory
kill, a power cut, a flat battery at sea; and so was a Record the app died in the middle of
(waiting for the store, or for the panel's worker). So each catch is written here from its
Record, before the store is asked (``CatchStore.record``), and the next start offers any
still here again, as refused, for Retry or Dismiss; its entry is deleted once the store has
the catch (or once the store finds this very catch recorded: a Record or Retry that
committed just before a crash left its entry here, which the next start deletes instead of
offering it, ``CatchStore.pending``), or when the officer dismisses it.

The spool is one small database beside the store (``<store>.pending-catches``,
``sync.store.pending_catches``: what the store's key change, backup and restore need of it),
encrypted (SQLCipher, as the store and its backups are) with a key derived from the store's
(HKDF, ``sync.store.spool_kdf``: the key the panel holds opens the spool, never the store),
and made 0600: it holds the officer's photos and catch details. A key change re-encrypts it with the
store; one left under an earlier key (by a Jaga before that) has a copy of the store's key
header, and opens with the passphrase or key file it was written under. Each entry is the
catch as Record was pressed (the photo's bytes, type, size and EXIF time; each fish's box
and the pack's answer; the details and species confirmed; when Record was pressed; the
uids its fish's observations are recorded under), in JSON, not the decoded photo. No Qt
here.

Recording from here is idempotent: an entry's uid is the uid its catch's photo is stored
under (``CatchStore.record``), so the store finds a try that committed before the app died
(``CatchRecordedError``) and writes nothing again, even for a catch recorded *again* (a
second Record of fish recorded before), which the check for an earlier record of the photo
lets through. Its fish keep their observation uids too: a catch recorded, then lost from
the store by a restore of a backup taken before it (``jaga store restore``) while its entry
was still here, is recorded again as the same catch (the hub, which may hold it from a
sync before the restore, gets no second one), dated when Record was pressed (a review the
hub made since stands); and one a sync pulled back into the restored store is found there
by those uids (``sync.store.catch_written``), or, for an entry kept before entries kept
them, as this device's catch of its photo (``sync.store.pulled_photos``), and written no
second time: its photo is put into the store for it before its entry is deleted. A catch of
several fish is found so only once the store holds every fish (``sync.store.catch_written``):
one brought back in part (a fish the hub had not taken before the restore) stays, and its
Retry records only the fish the store lacks.

A Record opens the spool with the key taken at the store's last open (``open_with``,
``sync.store.spool_key``) before it opens the store, so that its catch is on disk without a
key derivation first. Nothing is kept when there is no such key (none taken yet, or the
store's key changed since) and the store could not even be opened (no key to encrypt
with), nor when the disk is too full for the spool as well: the panel says so, and the
catch waits in memory only, as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop.catch import CatchDetails, CaughtFish
from desktop.catch_errors import CatchError
from desktop.catch_photo import PhotoFile
from desktop.catch_records import CatchRecord
from desktop.photo_time import PhotoTime
from inference.fish.types import FishPrediction, FishStatus, Species, SpeciesScore
from sync.store import Crop, KeySource, Position, Store
from sync.store.database import Database
from sync.store.pending_catches import SUFFIX, open_spool
from sync.store.spool_key import SpoolKey

_log = logging.getLogger(__name__)
_FORMAT = 1


class CatchSpool:
    """The catches not yet recorded in one store, open for one job (like the store itself).

    ``release`` lets go, after closing, of what its opening held: the store's in-use lock,
    held for a spool opened without the store (``open_with``)."""

    def __init__(self, database: Database, release: Callable[[], None] | None = None) -> None:
        self._database = database
        self._release = release

    @classmethod
    def open(cls, store: Store, source: KeySource) -> CatchSpool:
        """The spool beside ``store`` (made if there is none), under the spool's key derived
        from the store's (one an earlier release kept under the store's own key re-encrypted
        first); one written under an earlier key opens with its own header's slot
        (``open_spool``)."""
        config = store.database.config
        return cls(open_spool(store.path, store.key, store.header.current, source, config))

    @classmethod
    def open_with(cls, key: SpoolKey) -> CatchSpool | None:
        """The spool opened with the key taken at an open of the store, no key derived
        (made if there is none); None when that key is no longer the store's, or a restore
        or key change runs (``SpoolKey.open``)."""
        held = key.open()
        return None if held is None else cls(held.database, held.release)

    def __enter__(self) -> CatchSpool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._database.close()
        finally:
            if self._release is not None:
                self._release()

    def keep(self, record: CatchRecord, now: datetime) -> None:
        """Keep (or keep again, refused again) this catch until it is recorded."""
        with self._database.write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO pending (uid, kept_at, catch, photo) VALUES (?, ?, ?, ?)",
                (record.uid, now.isoformat(), json.dumps(_catch_json(record)), record.photo.data),
            )

    def forget(self, uids: list[str]) -> None:
        with self._database.write() as connection:
            connection.executemany("DELETE FROM pending WHERE uid = ?", [(uid,) for uid in uids])

    def records(self) -> list[CatchRecord]:
        """The catches kept, oldest first; one that cannot be read is logged and left here."""
        rows = self._database.query("SELECT uid, catch, photo FROM pending ORDER BY kept_at")
        found = []
        for uid, text, photo in rows:
            try:
                found.append(_catch_of(uid, json.loads(text), bytes(photo)))
            except (ValueError, KeyError, TypeError, CatchError) as error:
                _log.error("pending catch %s in %s cannot be read: %s", uid, SUFFIX, error)
        return found


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _why(taken: list[Any]) -> str | None:
    """Why the photo's time names no moment; not kept by a catch spooled before it was."""
    return taken[2] if len(taken) > 2 else None


def _catch_json(record: CatchRecord) -> dict[str, Any]:
    photo, details = record.photo, record.details
    time = photo.time
    taken = None if time is None else [time.reading, _time(time.taken_at), time.no_moment]
    position = details.position
    return {
        "format": _FORMAT,
        "photo": {
            "path": str(photo.path), "media_type": photo.media_type,
            "size": list(photo.size), "time": taken,
        },
        "fish": [_fish_json(one) for one in record.fish],
        "details": {
            "officer": details.officer, "vessel": details.vessel, "trip": details.trip,
            "haul": details.haul, "count": details.count, "length_cm": details.length_cm,
            "position": None if position is None else [position.latitude, position.longitude],
            "notes": details.notes, "observed_at": _time(details.observed_at),
        },
        "confirmed": list(record.confirmed),
        "again": record.again,
        "pressed_at": _time(record.pressed_at),
        "observation_uids": list(record.observation_uids) if record.uids_kept else [],
    }  # fmt: skip


def _fish_json(fish: CaughtFish) -> dict[str, Any]:
    crop, prediction = fish.crop, fish.prediction
    return {
        "crop": None if crop is None else [crop.x, crop.y, crop.width, crop.height],
        "status": prediction.status.value,
        "top_k": [[s.species.id, s.species.name, s.probability] for s in prediction.top_k],
        "needs_review": prediction.needs_review,
        "pack_version": prediction.pack_version,
        "reason": prediction.reason,
    }


def _catch_of(uid: str, kept: dict[str, Any], data: bytes) -> CatchRecord:
    if kept.get("format") != _FORMAT:
        raise ValueError(f"unknown format {kept.get('format')!r}")
    photo, details = kept["photo"], kept["details"]
    taken = photo["time"]
    width, height = photo["size"]
    file = PhotoFile(
        Path(photo["path"]), data, photo["media_type"], (int(width), int(height)),
        None if taken is None else PhotoTime(taken[0], _at(taken[1]), _why(taken)),
    )  # fmt: skip
    position = details["position"]
    return CatchRecord(
        file,
        tuple(_fish_of(one) for one in kept["fish"]),
        CatchDetails(
            officer=details["officer"], vessel=details["vessel"], trip=details["trip"],
            haul=details["haul"], count=details["count"], length_cm=details["length_cm"],
            position=None if position is None else Position(*position),
            notes=details["notes"], observed_at=_at(details["observed_at"]),
        ),
        tuple(kept["confirmed"]),
        bool(kept["again"]),
        _at(kept["pressed_at"]),
        uid=uid,
        # An entry kept before they were: new ones (the hub finds the same fish of the same
        # photo from the same device, ``sync.hub.apply.same_catch``; the store, this
        # device's catch of the photo pulled back, ``sync.store.pulled_photos``).
        observation_uids=tuple(kept.get("observation_uids") or ()),
        from_spool=True,
        uids_kept=bool(kept.get("observation_uids")),
    )  # fmt: skip


def _fish_of(kept: dict[str, Any]) -> CaughtFish:
    crop = kept["crop"]
    prediction = FishPrediction(
        FishStatus(kept["status"]),
        tuple(SpeciesScore(Species(id_, name), p) for id_, name, p in kept["top_k"]),
        bool(kept["needs_review"]),
        kept["pack_version"],
        kept["reason"],
    )
    return CaughtFish(None if crop is None else Crop(*crop), prediction)
