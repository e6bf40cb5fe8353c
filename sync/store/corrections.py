"""This device's confirmed fish photos as corrections: ``jaga store export-corrections``.

Every observation with a confirmed species and a photo becomes one ``Correction`` for the
shared writer (``sync.corrections``). The rows are read first, without the photos; each
photo's bytes are then read one at a time, inside the same read transaction, so memory holds
one photo however many are exported and every row and photo comes from one snapshot.

An observation a reviewer answered "not a fish" becomes a retraction row (``sync.corrections``):
an earlier export may have written it with a species, and the training export given both
(read in the order they were written) drops it.

Several observations may point at one photo: several fish in one photo, each on its own box
(``crop``), are several examples, the photo written once. Observations of the same box (or
of the whole photo: ``Observations.add`` and ``add_many`` accept the uid of a photo already
stored) are one example when they agree on the species; when they name different species,
or one names a species and another answers "not a fish", it labels neither, so it is left
out and counted as conflicting, and each of its observations gets a retraction row
(``conflicting`` 1, with the photo's sha256 and the box, so that a reader leaves a
byte-identical copy under another photo id out too): an earlier export may have labelled
it before they disagreed.

The export is stamped (``exported_at``) by ``export_stamp``: never before an earlier export
of this store, its last edit, or the hub time it has seen, whatever the clock says.

A row without a box is the whole photo only where this device knows so (``crop_known``,
schema 9): a catch pulled while it spoke protocol 2 was never told its fish's box. Such a
row still labels the whole photo when it is the only observation of its photo (one recorded
fish is the whole photo either way); where the photo has several, it would label every fish
in it with one's species, so it is left out and counted. The hub knows the boxes: ``jaga hub
export-corrections`` exports those observations with theirs.

The schema-9 upgrade marked every row without a box so, the device's own whole-photo catches
too. Those are told apart by what this device queued when it recorded them: a catch recorded
here has an outbox entry written with its row (the outbox keeps every entry; pulled rows are
written without one), and the first one says the box it was recorded with: ``"crop": null``
(schema 5 to 8) or no crop at all (older code, when every catch was the whole photo). Such a
catch is the whole photo, as on the hub. One whose first entry names a box lost it later, and
a row with no entry was pulled: both stay out. (A pulled row an officer confirmed here before
the upgrade has an entry too, the confirmation's; it can only be of a photo this device took,
as photos are never pulled, so it is this device's own catch coming back.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sync import plural
from sync.corrections import Correction, CorrectionsExport, ExportSummary, species_key
from sync.store.clock import Clock, SystemClock
from sync.store.database import Database
from sync.store.export_stamp import export_time

# Oldest first, so the first observation of a shared photo is the one it was taken for.
_CONFIRMED = (
    "SELECT o.observation_uid, o.confirmed_species, o.observed_at, o.vessel, o.trip,"
    " o.reviewed_by, o.pack_version, p.id, p.photo_uid, p.media_type, p.sha256,"
    " o.crop_x, o.crop_y, o.crop_w, o.crop_h, o.status, o.status_reason, o.crop_known,"
    " (SELECT count(*) FROM fish_observations s WHERE s.photo_id = o.photo_id),"
    # What this device queued when it recorded the row (see the module); only where needed.
    " CASE WHEN o.crop_known = 0 THEN (SELECT x.payload FROM outbox x"
    "  WHERE x.entity_uid = o.observation_uid AND x.entity = 'fish_observation'"
    "  AND x.operation = 'upsert' ORDER BY x.sequence LIMIT 1) END"
    " FROM fish_observations o JOIN photos p ON p.id = o.photo_id"
    " WHERE (o.confirmed_species IS NOT NULL AND trim(o.confirmed_species) != '')"
    # and the answers "not a fish" (reviewed, no species): retraction rows (see the module)
    " OR (coalesce(o.reviewed_by, '') != '' AND trim(coalesce(o.confirmed_species, '')) = '')"
    " ORDER BY o.observed_at, o.id"
)


@dataclass(frozen=True)
class _Confirmed:
    """One reviewed observation's row (a species, or "not a fish"), without its photo's bytes."""

    observation_uid: str
    species: str | None  # None or blank: a reviewer answered not a fish
    observed_at: str
    vessel: str | None
    trip: str | None
    reviewed_by: str | None
    pack_version: str | None
    photo_id: int
    photo_uid: str
    media_type: str
    sha256: str
    crop_x: int | None
    crop_y: int | None
    crop_w: int | None
    crop_h: int | None
    status: str | None
    status_reason: str | None
    crop_known: int  # 0: this device was never told the box (schema 9)
    on_photo: int  # observations of this photo on this device, confirmed or not
    recorded_as: str | None  # where the box is not known: the first payload queued for it

    @property
    def label(self) -> str:
        """The confirmed species, or "" for "not a fish"."""
        return (self.species or "").strip()

    @property
    def crop(self) -> tuple[int, int, int, int] | None:
        """The fish's box, or None for the whole photo (schema 5 writes all four or none)."""
        x, y, w, h = self.crop_x, self.crop_y, self.crop_w, self.crop_h
        if x is None or y is None or w is None or h is None:
            return None
        return (x, y, w, h)

    @property
    def box_unsure(self) -> bool:
        """No box known here, on a photo with other observations, and not recorded here as
        the whole photo: which fish it labels is not known (see the module)."""
        return not self.crop_known and self.on_photo > 1 and not self.recorded_whole

    @property
    def recorded_whole(self) -> bool:
        """This device recorded it as the whole photo (its first queued payload names no box)."""
        if self.recorded_as is None:
            return False  # pulled: nothing queued here
        try:
            payload = json.loads(self.recorded_as)
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("crop") is None


@dataclass
class StoreExportReport:
    """What the export wrote, and the confirmed observations whose fish it cannot tell."""

    summary: ExportSummary
    box_not_known: int = 0  # on a photo of several observations, without the box

    def lines(self) -> Iterator[str]:
        return self.summary.lines(self._notes())

    def _notes(self) -> Iterator[str]:
        if self.box_not_known:
            yield (
                f"{plural.counted(self.box_not_known, 'confirmed observation')} left out: their"
                " photo holds"
                " several observations and this device was never told which fish in it is"
                " each one's (jaga hub export-corrections exports them with their boxes)"
            )


def export_corrections(
    database: Database, export: CorrectionsExport, *, clock: Clock | None = None
) -> StoreExportReport:
    """Write every confirmed observation's photo, then ``corrections.csv``, through ``export``,
    stamped by ``export_stamp`` from ``clock`` (the store's; the system clock by default).

    ``export`` is made by the caller (``CorrectionsExport(folder)`` refuses a folder that is
    not empty), so a command can refuse the folder before it asks for the store's key. A
    photo whose bytes do not match its stored sha256 raises ``CorrectionsExportError`` before
    any CSV is written.
    """
    report = StoreExportReport(export.summary)
    with database.write() as connection:  # before the read: it records the stamp
        export.exported_at = export_time(connection, clock or SystemClock())
    with export, database.read() as connection:
        rows = [_Confirmed(*row) for row in connection.execute(_CONFIRMED)]
        for row in rows:
            if not row.label:  # an earlier export may hold its species: take that back
                export.retract(row.observation_uid, row.reviewed_by or "", row.observed_at,
                               photo_sha256=row.sha256, crop=row.crop)  # fmt: skip
        report.box_not_known = sum(1 for row in rows if row.label and row.box_unsure)
        known = [row for row in rows if not row.box_unsure]
        chosen, conflicting = _one_per_photo(known)
        export.summary.conflicting = len(conflicting)
        _retract_conflicting(export, conflicting)
        for row in chosen:
            export.add(_correction(row, _photo_bytes(connection, row.photo_id)))
    return report


def _one_per_photo(
    rows: Sequence[_Confirmed],
) -> tuple[list[_Confirmed], list[list[_Confirmed]]]:
    """The first observation of each example (a photo, or a box in it) that its
    observations name as one species, and the observations of each example whose
    observations disagree ("not a fish" disagrees with any species)."""
    by_photo: dict[tuple[int, tuple[int, int, int, int] | None], list[_Confirmed]] = {}
    for row in rows:
        by_photo.setdefault((row.photo_id, row.crop), []).append(row)
    chosen = []
    conflicting = []
    for sharing in by_photo.values():
        answers = {species_key(row.label) for row in sharing}  # "": not a fish
        if len(answers) > 1:
            conflicting.append(sharing)
        elif answers != {""}:
            chosen.append(sharing[0])
    return chosen, conflicting


def _retract_conflicting(export: CorrectionsExport, conflicting: list[list[_Confirmed]]) -> None:
    """Every observation of each example left out: an earlier export may have labelled the
    photo before its observations disagreed."""
    for sharing in conflicting:
        for row in sharing:
            export.retract(row.observation_uid, row.reviewed_by or "", row.observed_at,
                           conflicting=True, photo_sha256=row.sha256, crop=row.crop)  # fmt: skip


def _photo_bytes(connection: Any, photo_id: int) -> bytes:
    row = connection.execute("SELECT data FROM photos WHERE id = ?", (photo_id,)).fetchone()
    return bytes(row[0])


def _correction(row: _Confirmed, photo: bytes) -> Correction:
    return Correction(
        observation_uid=row.observation_uid,
        confirmed_species=row.label,
        photo_uid=row.photo_uid,
        media_type=row.media_type,
        photo_sha256=row.sha256,
        photo=photo,
        observed_at=row.observed_at,
        vessel=row.vessel,
        trip=row.trip,
        reviewed_by=row.reviewed_by or "",
        pack_version=row.pack_version or "",
        crop=row.crop,
        status=row.status or "",
        status_reason=row.status_reason or "",
    )
