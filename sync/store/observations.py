"""Fish observations: recorded on deck, reviewed by an officer, queued for the hub."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sync.errors import CatchRecordedError, PhotoRecordedError, RecordNotFoundError
from sync.store.clock import Clock, format_timestamp
from sync.store.clock_floor import ClockFloor, read_floor
from sync.store.database import Database
from sync.store.observation_rows import observation_of_row
from sync.store.outbox import Outbox
from sync.store.photos import insert_photo, photo_payload
from sync.store.pulled_photos import HELD_HERE
from sync.store.records import Crop, FishObservation, Photo
from sync.store.review_entry import quarantine_review

COLUMNS = (
    "o.observation_uid, o.observed_at, o.predictions, o.confirmed_species, o.needs_review,"
    " p.photo_uid, o.latitude, o.longitude, o.vessel, o.trip, o.haul, o.count, o.length_cm,"
    " o.officer, o.notes, o.reviewed_by, o.reviewed_at, o.pack_version,"
    " o.crop_x, o.crop_y, o.crop_w, o.crop_h, o.status, o.status_reason, o.crop_known,"
    " o.recorded_here"
)
_FROM = "FROM fish_observations o LEFT JOIN photos p ON p.id = o.photo_id"
# Through the indexes of schema 7: the photos by sha256, then their observations.
_ON_PHOTO_UID = (  # {}: the observation uids' marks
    "WHERE o.photo_id = (SELECT id FROM photos WHERE photo_uid = ?)"
    f" OR {HELD_HERE} OR o.observation_uid IN ({{}}) ORDER BY o.id"
)
_ON_PHOTO_BYTES = (
    "WHERE o.photo_id IN (SELECT id FROM photos WHERE sha256 = ?) ORDER BY o.observed_at, o.id"
)


class Observations:
    """The catch log of this device."""

    def __init__(self, database: Database, clock: Clock, outbox: Outbox) -> None:
        self._database = database
        self._clock = clock
        self._outbox = outbox

    def add(self, observation: FishObservation, photo: Photo | None = None) -> FishObservation:
        """Record an observation (and its photo) with their outbox entries, in one commit."""
        if photo is not None:
            return self.add_with_photo(photo, [observation])[0]
        with self._database.write() as connection:
            photo_id = None
            if observation.photo_uid is not None:
                photo_id = _photo_id(connection, observation.photo_uid)
            self._insert(connection, observation, photo_id)
        return observation

    def add_with_photo(
        self,
        photo: Photo,
        observations: Sequence[FishObservation],
        *,
        refuse_recorded: bool = False,
        made_at: str | None = None,
    ) -> list[FishObservation]:
        """Record a new photo and the observations made on it (several fish in one photo,
        each on its own ``crop``) with their outbox entries, in one commit: all or nothing.

        The photo's entry comes first, so the hub holds the photo before the observations
        that name it. Returns the observations as stored (naming the photo).

        ``refuse_recorded``: a photo with these bytes recorded before with one of the same
        fish (the same crop, or the whole photo) is ``PhotoRecordedError``; other
        crops of it are other fish. Checked within the write transaction (it holds the write
        lock from its start), so two writers of one photo at once record it once.

        A photo whose uid is in the store already, or an observation whose uid is, is this
        same record, written by an earlier try (a retry after a crash), or pulled back from
        the hub into a store restored to before it (without its photo: photos never travel
        in pulls): ``CatchRecordedError``, nothing written, whatever ``refuse_recorded``
        says. A caller that gives each catch its own photo and observation uids, and keeps
        them across retries, records the catch once however often it is retried.

        ``made_at``: the outbox entries' time (``Outbox.enqueue``), for a catch made before
        and recorded now (a Retry of one kept from before the app stopped, which a hub may
        hold already): dated then, it never wins over a review the hub made since."""
        if not observations:
            raise ValueError("a photo is recorded with at least one observation")
        if any(o.photo_uid not in (None, photo.photo_uid) for o in observations):
            raise ValueError("observation.photo_uid names another photo")
        named = [replace(o, photo_uid=photo.photo_uid) for o in observations]
        with self._database.write() as connection:
            _refuse_written(connection, photo.photo_uid, [o.observation_uid for o in named])
            if refuse_recorded:
                _refuse_recorded(connection, photo, {o.crop for o in named})
            photo_id = insert_photo(connection, self._database.config, self._clock, photo, None)
            self._outbox.enqueue(
                connection, entity="photo", entity_uid=photo.photo_uid, operation="upsert",
                payload=photo_payload(photo, None), made_at=made_at,
            )  # fmt: skip
            for observation in named:
                self._insert(connection, observation, photo_id, made_at)
        return named

    def add_to_photo(
        self, photo_uid: str, observations: Sequence[FishObservation], *, made_at: str | None
    ) -> list[FishObservation]:
        """Record the fish of a catch the store holds in part, on its photo, which it holds:
        those a pull did not bring back (``sync.store.catch_written``). One commit, outbox
        entries included (dated ``made_at``, as ``add_with_photo``'s); one of them stored
        already is ``CatchRecordedError``, nothing written; no such photo is
        ``RecordNotFoundError``."""
        named = [replace(o, photo_uid=photo_uid) for o in observations]
        uids = [o.observation_uid for o in named]
        with self._database.write() as connection:
            photo_id = _photo_id(connection, photo_uid)
            marks = ", ".join("?" * len(uids))
            if held := _select(connection, f"WHERE o.observation_uid IN ({marks})", uids):
                found = [observation_of_row(row) for row in held]
                raise CatchRecordedError(
                    f"observation {found[0].observation_uid} is recorded", found
                )
            for observation in named:
                self._insert(connection, observation, photo_id, made_at)
        return named

    def add_many(self, observations: Sequence[FishObservation]) -> None:
        """Record several observations (without new photos) in one transaction: one fsync."""
        with self._database.write() as connection:
            for observation in observations:
                photo_id = None
                if observation.photo_uid is not None:
                    photo_id = _photo_id(connection, observation.photo_uid)
                self._insert(connection, observation, photo_id)

    def confirm(self, observation_uid: str, species: str, *, officer: str) -> FishObservation:
        """An officer's verdict: sets the confirmed species, clears the review flag, and
        records the officer as its reviewer (all of which travel to the hub)."""
        if not species.strip():
            raise ValueError("species must not be empty")
        return self._review(observation_uid, species, officer)

    def answer_not_a_fish(self, observation_uid: str, *, officer: str) -> FishObservation:
        """An officer's verdict that the photo shows no fish: no species, the review flag
        cleared, the officer its reviewer. It travels as a confirmation does, with no species
        (every protocol carries that), and is never exported as a label to train on."""
        return self._review(observation_uid, None, officer)

    def _review(self, observation_uid: str, species: str | None, officer: str) -> FishObservation:
        if not officer.strip():
            raise ValueError("officer must not be empty")
        now = format_timestamp(self._clock.now())
        with self._database.write() as connection:
            cursor = connection.execute(
                "UPDATE fish_observations SET confirmed_species = ?, needs_review = 0,"
                " reviewed_by = ?, reviewed_at = ?, updated_at = ? WHERE observation_uid = ?",
                (species, officer, now, now, observation_uid),
            )
            if cursor.rowcount == 0:
                raise RecordNotFoundError(f"no fish observation {observation_uid}")
            reviewed = observation_of_row(
                _select(connection, "WHERE o.observation_uid = ?", [observation_uid])[0]
            )
            payload = observation_payload(reviewed)
            self._outbox.enqueue(  # a verdict the hub's schema refuses raises: rolled back
                connection, entity="fish_observation", entity_uid=observation_uid,
                operation="upsert", payload=payload,
                quarantine_invalid=quarantine_review(payload),  # see review_entry
            )  # fmt: skip
        return reviewed

    def get(self, observation_uid: str) -> FishObservation:
        with self._database.read() as connection:
            rows = _select(connection, "WHERE o.observation_uid = ?", [observation_uid])
        if not rows:
            raise RecordNotFoundError(f"no fish observation {observation_uid}")
        return observation_of_row(rows[0])

    def review_queue(
        self, limit: int = 100, *, include_pulled: bool = False
    ) -> list[FishObservation]:
        """This device's own observations flagged for review, newest first: those its
        officers recorded (``recorded_here``), the ones they can check against the fish.
        ``include_pulled``: the whole site's, with those pulled from the hub (other boats'
        catches, which any device may confirm), newest first too."""
        origin = "" if include_pulled else " AND o.recorded_here = 1"
        order = "ORDER BY o.observed_at DESC, o.id DESC LIMIT ?"
        with self._database.read() as connection:
            rows = _select(connection, f"WHERE o.needs_review = 1{origin} {order}", [limit])
        return [observation_of_row(row) for row in rows]

    def count(self) -> int:
        return int(self._database.query("SELECT count(*) FROM fish_observations")[0][0])

    def pulled(self, observation_uids: Iterable[str]) -> set[str]:
        """Those of ``observation_uids`` this device pulled from the hub (another boat's
        catches, ``recorded_here`` 0): it sends only reviews of them."""
        uids = list(observation_uids)
        if not uids:
            return set()
        marks = ",".join("?" * len(uids))
        rows = self._database.query(
            f"SELECT observation_uid FROM fish_observations WHERE recorded_here = 0"
            f" AND observation_uid IN ({marks})",
            tuple(uids),
        )
        return {str(uid) for (uid,) in rows}

    def clock_floor(self) -> ClockFloor:
        """What vouches for the true time besides the clock (the release date, the newest hub
        time pulled, the newest time recorded here): a catch may be dated after it however
        far behind the clock is (``sync.store.clock_floor``)."""
        with self._database.read() as connection:
            return read_floor(connection, self._clock)

    def _insert(
        self,
        connection: Any,
        observation: FishObservation,
        photo_id: int | None,
        made_at: str | None = None,
    ) -> None:
        position = observation.position
        now = format_timestamp(self._clock.now())
        connection.execute(
            "INSERT INTO fish_observations (observation_uid, observed_at, predictions,"
            " confirmed_species, needs_review, photo_id, latitude, longitude, vessel, trip, haul,"
            " count, length_cm, officer, notes, reviewed_by, reviewed_at, pack_version,"
            " crop_x, crop_y, crop_w, crop_h, status, status_reason, crop_known, created_at,"
            " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                observation.observation_uid,
                format_timestamp(observation.observed_at),
                observation.predictions_json(),
                observation.confirmed_species,
                int(observation.needs_review),
                photo_id,
                position.latitude if position else None,
                position.longitude if position else None,
                observation.vessel,
                observation.trip,
                observation.haul,
                observation.count,
                observation.length_cm,
                observation.officer,
                observation.notes,
                observation.reviewed_by,
                _timestamp_or_none(observation.reviewed_at),
                observation.pack_version,
                *crop_columns(observation.crop),
                None if observation.status is None else observation.status.value,
                observation.status_reason,
                int(observation.crop_known),
                now,
                now,
            ),
        )
        self._outbox.enqueue(
            connection,
            entity="fish_observation",
            entity_uid=observation.observation_uid,
            operation="upsert",
            payload=observation_payload(observation),
            made_at=made_at,
        )


def held_observation(connection: Any, observation_uid: str) -> FishObservation | None:
    """The observation as this store holds it, inside the caller's transaction (None: not
    held)."""
    rows = _select(connection, "WHERE o.observation_uid = ?", [observation_uid])
    return observation_of_row(rows[0]) if rows else None


def observation_payload(observation: FishObservation) -> dict[str, Any]:
    """The observation's outbox payload: the wire's ``FishObservationUpsert`` (protocol 4);
    ``crop`` is ``[x, y, width, height]``, or None for the whole photo.

    Without a verdict (``status``), neither it nor its reason is sent, nor a
    ``pack_version`` without one, nor a ``crop`` this device does not know
    (``crop_known``): this device was not told them (a row pulled from an older device, or
    while it was older itself), and an explicit None would win with the device's next edit
    (a confirmation stamps the predictions they follow) and erase, on the hub and every
    device, what the device that classified the fish said. Left out, they say nothing and
    the stored values stand. (Every catch this code records has all three.) A known
    ``crop`` of None is sent: it is a real answer, the whole photo.

    A review of another boat's catch sends the whole row too; the hub takes only its review
    from it (``sync.hub.apply.records``)."""
    payload = _payload(observation)
    if observation.status is None:
        del payload["status"], payload["status_reason"]
    if observation.pack_version is None:
        del payload["pack_version"]
    if not observation.crop_known:
        del payload["crop"]
    return payload


def _payload(observation: FishObservation) -> dict[str, Any]:
    position = observation.position
    return {
        "observation_uid": observation.observation_uid,
        "observed_at": format_timestamp(observation.observed_at),
        "predictions": [[s.species, s.confidence] for s in observation.predictions],
        "confirmed_species": observation.confirmed_species,
        "needs_review": observation.needs_review,
        "photo_uid": observation.photo_uid,
        "position": None if position is None else [position.latitude, position.longitude],
        "vessel": observation.vessel,
        "trip": observation.trip,
        "haul": observation.haul,
        "count": observation.count,
        "length_cm": observation.length_cm,
        "officer": observation.officer,
        "notes": observation.notes,
        "reviewed_by": observation.reviewed_by,
        "reviewed_at": _timestamp_or_none(observation.reviewed_at),
        "pack_version": observation.pack_version,
        "crop": None if observation.crop is None else list(observation.crop.as_tuple()),
        "status": None if observation.status is None else observation.status.value,
        "status_reason": observation.status_reason,
    }


def crop_columns(crop: Crop | None) -> tuple[int | None, int | None, int | None, int | None]:
    """The ``crop_x, crop_y, crop_w, crop_h`` columns: all NULL for the whole photo."""
    return (None, None, None, None) if crop is None else crop.as_tuple()


def _timestamp_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _photo_id(connection: Any, photo_uid: str) -> int:
    row = connection.execute("SELECT id FROM photos WHERE photo_uid = ?", (photo_uid,)).fetchone()
    if row is None:
        raise RecordNotFoundError(f"no photo {photo_uid}")
    return int(row[0])


def _refuse_written(connection: Any, photo_uid: str, observation_uids: list[str]) -> None:
    """Refuse a catch whose photo uid, or one of whose observation uids, is recorded: the
    same catch, written by an earlier try or pulled back from the hub (a catch of this
    device pulled naming the photo, which the store lacks: ``sync.store.pulled_photos``)."""
    clause = _ON_PHOTO_UID.format(", ".join("?" * len(observation_uids)))
    rows = _select(connection, clause, [photo_uid, photo_uid, *observation_uids])
    if written := [observation_of_row(row) for row in rows]:
        raise CatchRecordedError(
            f"photo {photo_uid} is recorded already: observation"
            f" {', '.join(o.observation_uid for o in written)}",
            written,
        )


def _refuse_recorded(connection: Any, photo: Photo, crops: set[Crop | None]) -> None:
    """Refuse a photo whose bytes were recorded before with one of these fish (``crops``),
    read inside the write that would record it again."""
    rows = _select(connection, _ON_PHOTO_BYTES, [photo.sha256])
    earlier = [o for o in map(observation_of_row, rows) if o.crop in crops]
    if earlier:
        raise PhotoRecordedError(
            f"photo {photo.sha256[:12]} was recorded before with the same fish:"
            f" observation {', '.join(o.observation_uid for o in earlier)}",
            earlier,
        )


def _select(connection: Any, clause: str, parameters: Sequence[Any]) -> list[Any]:
    return list(connection.execute(f"SELECT {COLUMNS} {_FROM} {clause}", parameters).fetchall())
