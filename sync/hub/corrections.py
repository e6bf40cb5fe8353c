"""The hub's confirmed fish photos, written out as corrections (``jaga hub export-corrections``).

Every fish observation whose species a reviewer confirmed (in the hub's review queue or on
a device) and whose photo the hub holds becomes one ``Correction`` for the shared writer
(``sync.corrections``), oldest first (``observed_at``, then uid, so two exports of the same
data list the same rows). An observation a reviewer answered "not a fish" becomes a
retraction row instead (``sync.corrections``): an earlier export may have written it with a
species, and the training export given both drops it. The observations are streamed from a
server-side cursor and each photo's bytes are read on its own row, so memory holds one photo
however many are exported.

Left out, and counted in the report:

* an observation whose photo has not finished uploading (or whose metadata has not arrived):
  the ``--since`` this export prints reaches back to the oldest of them, so the next export
  selects it again (and, until its photo arrives, repeats what was stamped since);
* an observation with no photo, or one naming a photo it may not use: a person's photo
  (fish photos have none; an erased person's photos are deleted) or another site's;
* a photo (or one fish's box in it) shared by several observations that confirm different
  species, or one species and "not a fish": it labels neither, and each of its
  observations (selected by ``since`` or not) gets a retraction row with ``conflicting``
  1 (and the photo's sha256 and the box, so that a reader leaves a byte-identical copy
  under another photo id out too), so that a label an earlier export gave it before they
  disagreed is dropped. When
  they agree it is written once, with the first observation's row. Several fish of one
  photo, each on its own box (``crop``), are several examples: one row each, the photo's
  file written once.

``since`` selects on ``updated_at``, the hub database's clock when the observation last
changed, not on ``reviewed_at``: a device's review carries the device's own time and may
reach the hub weeks later, and the next export must still include it. The cost: an
observation edited again since (its notes) is exported again.

The report gives the ``--since`` for the next export, and nothing committed falls between
two exports. Every writer of observations takes its site's lock (``lock_sites``) before it
stamps one, and holds it until it commits; ``updated_at`` is the database's time of the
writing statement, whichever machine the writer runs on. Before it reads the table, an
export takes the same locks (shared): that waits for the writes in flight to commit, so
its query sees them, and a writer that comes after takes the lock later and stamps a later
time than the one the export reports. What commits after the query therefore carries a
stamp at or after the reported ``--since``. A change committed between the locks and the
query can be in both exports; ``jaga fish export-training-set`` given both CSVs (oldest
first) keeps it once, with the later verdict.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet

from sync import plural
from sync.corrections import (
    Correction,
    CorrectionsExport,
    CorrectionsExportError,
    ExportSummary,
    species_key,
)
from sync.hub.models import FishObservation, Photo, Site
from sync.protocol import format_timestamp

# Rows the server-side cursor hands over per round trip (no photo bytes in them).
CURSOR_ROWS = 200

# (site pk, photo uid, the fish's box or None): a photo is one site's; each box one example.
PhotoKey = tuple[int, uuid.UUID, tuple[int, int, int, int] | None]


@dataclass
class HubExportReport:
    """What the export wrote, and the confirmed observations it had to leave out."""

    summary: ExportSummary
    resume_from: datetime  # the next export's --since
    awaiting_photo: int = 0  # observations whose photo's upload has not finished
    without_photo: int = 0  # observations with no photo they may use

    def lines(self) -> Iterator[str]:
        return self.summary.lines(self._notes())

    def wait_for_photo(self, observation: Any) -> None:
        """Count an observation left out until its photo arrives; the next export resumes
        early enough to select it again (a photo's arrival does not restamp it)."""
        self.awaiting_photo += 1
        self.resume_from = min(self.resume_from, observation.updated_at)

    def _notes(self) -> Iterator[str]:
        if self.awaiting_photo:
            yield (
                f"waiting for their photo's upload:"
                f" {plural.counted(self.awaiting_photo, 'confirmed observation')};"
                " export again once their devices have synced"
            )
        if self.without_photo:
            yield (
                "without a photo to label:"
                f" {plural.counted(self.without_photo, 'confirmed observation')}"
            )
        yield (
            f"the next export: --since {format_timestamp(self.resume_from)}; give"
            " export-training-set both exports' CSVs, in any order (each carries its time)"
        )


def export_corrections(
    folder: Path, *, site: str | None = None, since: datetime | None = None
) -> HubExportReport:
    """Write the confirmed observations' photos and ``corrections.csv`` into ``folder``.

    ``site`` limits the export to one site's slug; ``since`` to observations the hub changed
    at or after that moment. ``CorrectionsExportError`` for an unknown site or a folder
    that is not empty (nothing written), or a photo whose bytes do not match its sha256
    (no ``corrections.csv`` written).
    """
    found = _site(site)
    answered = _answered(found)
    export = CorrectionsExport(folder, exported_from="hub")
    report = HubExportReport(export.summary, _writes_settled(found))
    export.exported_at = report.resume_from  # the database's clock: it orders the exports
    shared = _shared_photos(answered)
    settled: set[PhotoKey] = set()  # shared photos already written or already left out
    with export:
        for observation in _selected(answered, since).iterator(chunk_size=CURSOR_ROWS):
            not_a_fish = not _species(observation)
            if not_a_fish:  # an earlier export may hold its species: take that back
                export.retract(
                    str(observation.uid),
                    observation.reviewed_by,
                    observation.observed_at.isoformat(),
                    photo_sha256=_photo_sha256(observation.site_id, observation.photo_uid),
                    crop=observation.crop,
                )
            key = (observation.site_id, observation.photo_uid, observation.crop)
            if key in settled:
                continue
            if key in shared:
                settled.add(key)
                if len(shared[key].answers) > 1:
                    report.summary.conflicting += 1
                    _retract_all(export, key, shared[key].observations)
                    continue
            if not_a_fish:
                continue
            photo = _usable_photo(observation, report)
            if photo is not None:
                export.add(_correction(observation, photo))
    return report


def _photo_sha256(site_id: int, photo_uid: uuid.UUID | None) -> str:
    """The sha256 of the photo a retraction is about, "" where it never arrived: a reader
    tells a byte-identical copy under another photo id by it."""
    if photo_uid is None:
        return ""
    found = Photo.objects.filter(
        uid=photo_uid, site_id=site_id, person_id__isnull=True
    ).values_list("sha256", flat=True)  # never a person's photo, nor another site's
    return str(found.first() or "")


def _site(slug: str | None) -> Site | None:
    if slug is None:
        return None
    found: Site | None = Site.objects.filter(slug=slug).first()
    if found is None:
        raise CorrectionsExportError(f"no site {slug!r} on this hub; nothing exported")
    return found


def _answered(site: Site | None) -> QuerySet[Any]:
    """Every reviewed observation (of ``site``, when one is named): a confirmed species, or
    a reviewer's "not a fish" (reviewed, no species), which the export writes as a
    retraction and which makes a photo it shares with a species conflicting."""
    species = Q(confirmed_species__isnull=False) & ~Q(confirmed_species__regex=r"^\s*$")
    observations = FishObservation.objects.filter(species | ~Q(reviewed_by=""))
    return observations if site is None else observations.filter(site=site)


def _species(observation: Any) -> str:
    """The observation's confirmed species, or "" where a reviewer answered not a fish."""
    return str(observation.confirmed_species or "").strip()


def _writes_settled(site: Site | None) -> datetime:
    """Wait for the writes in flight to ``site`` (every site when None) to commit; return
    the database's time then, from which the next export resumes.

    The sites' rows FOR SHARE wait for every writer holding them FOR UPDATE (``lock_sites``)
    and make later writers wait until this transaction ends: it holds them for two
    statements, not for the export.
    """
    where, params = ("", []) if site is None else (" WHERE id = %s", [site.pk])
    table = Site._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table}{where} ORDER BY id FOR SHARE", params)
        cursor.execute("SELECT statement_timestamp()")
        moment: datetime = cursor.fetchone()[0]
    return moment


def _selected(answered: QuerySet[Any], since: datetime | None) -> QuerySet[Any]:
    if since is not None:
        answered = answered.filter(updated_at__gte=since)
    return answered.order_by("observed_at", "uid")


_SHARING_FIELDS = (
    "uid", "reviewed_by", "observed_at", "site_id", "photo_uid", "confirmed_species",
    "crop_x", "crop_y", "crop_w", "crop_h",
)  # fmt: skip


@dataclass
class _Shared:
    """The reviewed observations of one example (photo and box) and the answers they give."""

    observations: list[tuple[str, str, str]] = field(default_factory=list)  # uid, by, at
    answers: set[str] = field(default_factory=set)  # species keys, "" for not a fish


def _retract_all(
    export: CorrectionsExport, key: PhotoKey, observations: list[tuple[str, str, str]]
) -> None:
    """Every observation of a conflicting example, the unselected ones too: an earlier
    export may have written the photo with one's species before another disagreed. Each
    row names the photo's sha256 and the box, so a reader leaves a byte-identical copy
    under another photo id out too."""
    site_id, photo_uid, crop = key
    sha256 = _photo_sha256(site_id, photo_uid)
    for uid, reviewed_by, observed_at in observations:
        export.retract(
            uid, reviewed_by, observed_at, conflicting=True, photo_sha256=sha256, crop=crop
        )


def _shared_photos(answered: QuerySet[Any]) -> dict[PhotoKey, _Shared]:
    """Examples (photo and box) several reviewed observations name -> those observations
    and the answers they give, "not a fish" one of them (a photo some reviewer saw no fish
    in is no clean example of a species either).

    Counted over every reviewed observation, not only those ``since`` selects: a photo an
    older observation labelled otherwise is no clean example either.
    """
    repeated = (
        answered.filter(photo_uid__isnull=False)
        .values("photo_uid")
        .annotate(observations=Count("pk"))
        .filter(observations__gt=1)
        .values("photo_uid")
    )
    sharing = answered.filter(photo_uid__in=repeated).order_by("observed_at", "uid")
    found: dict[PhotoKey, _Shared] = {}
    for uid, by, at, site_id, photo_uid, name, *box in sharing.values_list(*_SHARING_FIELDS):
        key = (site_id, photo_uid, None if None in box else tuple(box))
        shared = found.setdefault(key, _Shared())
        shared.observations.append((str(uid), by or "", at.isoformat()))
        shared.answers.add(species_key(name or ""))  # "": not a fish
    # A uid two sites' observations name is shared by neither: a photo is one site's.
    return {key: shared for key, shared in found.items() if len(shared.observations) > 1}


def _usable_photo(observation: Any, report: HubExportReport) -> Any:
    """The observation's stored photo, or None with the reason counted in ``report``."""
    if observation.photo_uid is None:
        report.without_photo += 1
        return None
    photo = Photo.objects.filter(uid=observation.photo_uid).first()
    if photo is not None and (photo.person_id is not None or photo.site_id != observation.site_id):
        report.without_photo += 1  # never a person's photo, nor another site's
        return None
    if photo is None or photo.data is None:
        report.wait_for_photo(observation)  # its metadata or its upload has not arrived yet
        return None
    return photo


def _correction(observation: Any, photo: Any) -> Correction:
    return Correction(
        observation_uid=str(observation.uid),
        confirmed_species=observation.confirmed_species.strip(),
        photo_uid=str(photo.uid),
        media_type=photo.media_type,
        photo_sha256=photo.sha256,
        photo=bytes(photo.data),  # bytea may arrive as a memoryview
        observed_at=observation.observed_at.isoformat(),
        vessel=observation.vessel,
        trip=observation.trip,
        reviewed_by=observation.reviewed_by,
        pack_version=observation.pack_version or "",
        crop=observation.crop,
        status=observation.status or "",
        status_reason=observation.status_reason or "",
    )
