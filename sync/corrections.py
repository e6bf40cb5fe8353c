"""Confirmed fish observations written out as labelled training data (the review loop's end).

A species confirmed by a reviewer, on the device or in the hub's review queue, labels the
observation's photo. ``CorrectionsExport`` writes those photos and ``corrections.csv``
(``file,confirmed_species,group`` plus provenance columns, ``pack_version`` among them: the
species pack whose prediction the reviewer corrected; then ``crop_x,crop_y,crop_w,crop_h``,
the fish's box in the photo when the photo holds several, empty for the whole photo; then
``status,status_reason``, that pack's verdict on the photo, ``identified``, ``unknown`` or
``no_fish`` with why the pack found no fish, empty where it was not recorded; then
``not_a_fish``, below) into an empty folder; that CSV is what ``jaga fish
export-training-set --corrections`` turns into the species folders ``jaga fish train``
reads, passing over every column but ``file,confirmed_species,group``, the box and
``not_a_fish``. New columns go last. Sync never imports the
classifier: the CSV is the contract.

The split group is the trip when the observation names one, else the observation itself:
photos from one haul are often the same few fish, and a training split must never put one
fish on both sides.

The photos are plaintext by design, like the CSV exports: the operator asked for them and
chose where they go; like ``jaga store export``, only the operator's account can read them
(folders 0700, files 0600). Each photo's bytes are checked against its stored sha256 on the
way out, and the CSV is written last; an export that fails removes what it wrote, so a
folder holds a whole export or nothing of one.

One photo labels one example, or one box in it: several fish of one photo are several
examples (one row each, the photo written once). The readers pass each (photo, box) once,
after settling those several observations share (:func:`species_key` says when two
confirmations agree).

A retraction row (``not_a_fish`` 1, no file, no species) names an observation a reviewer
answered "not a fish": an earlier export may have written it with a species, and a reader
given the exports oldest first drops that label. A photo (or box) left out as conflicting
gets one such row per observation of it, with ``conflicting`` 1 in place of ``not_a_fish``:
an earlier export may have labelled it before the observations disagreed. Species rows leave
both columns empty; an export written before a column existed reads as one without such
retractions.

Every row ends with ``photo_sha256`` (its photo's, on a retraction row too, so that a reader
can tell byte-identical photos under two photo ids apart from two pictures) and when and
where the export was written, ``exported_at`` (UTC, ``stamp_text``) and ``exported_from``
(``hub``: its database's clock, or ``device``: the device's own, never earlier than what
its store knows is past, ``sync.store.export_stamp``): the reader orders exports by them,
not by the order it is given them in, a hub's export after every device's.

Officers open the CSV in a spreadsheet: every cell is in double quotes, and one that would
run as a formula (a species or reviewer beginning ``=``, ``+``, ``-``, ``@``...) is written
with an apostrophe first, which the reader takes off (``sync.spreadsheet_text``), so a
species reads back exactly as it was reviewed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from sync import plural
from sync.errors import SyncError
from sync.spreadsheet_text import spreadsheet_cell

CORRECTIONS_CSV = "corrections.csv"
CROP_HEADER = ("crop_x", "crop_y", "crop_w", "crop_h")
PHOTOS_DIR = "photos"
HEADER = (
    "file",
    "confirmed_species",
    "group",
    "observation_uid",
    "reviewed_by",
    "observed_at",
    "pack_version",
    *CROP_HEADER,
    "status",
    "status_reason",
    "not_a_fish",  # 1: a retraction row (see the module); empty on a species row
    "conflicting",  # 1: a retraction row for an observation of a photo left out as conflicting
    "photo_sha256",
    "exported_at",  # when the export was written (UTC), on every row: orders the exports
    "exported_from",  # hub or device: whose clock exported_at is (see the module)
)
# The photo types a device stores and the training reader decodes.
SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
}


class CorrectionsExportError(SyncError):
    """The export cannot be written (a folder that is not empty, a damaged photo).

    A ``SyncError``: the operator acts on it, so a ``jaga`` command reports it in one line."""


@dataclass(frozen=True)
class Correction:
    """One confirmed observation with its photo's bytes."""

    observation_uid: str
    confirmed_species: str
    photo_uid: str
    media_type: str
    photo_sha256: str
    photo: bytes
    observed_at: str  # ISO 8601, as stored
    vessel: str | None = None
    trip: str | None = None
    reviewed_by: str = ""
    pack_version: str = ""  # the species pack that made the corrected prediction; "" unknown
    crop: tuple[int, int, int, int] | None = None  # the fish's box (x, y, w, h); None: whole
    status: str = ""  # that pack's verdict: identified, unknown, no_fish; "" not recorded
    status_reason: str = ""  # why the pack found no fish

    def __post_init__(self) -> None:
        if not self.confirmed_species.strip():
            raise ValueError(f"observation {self.observation_uid} has no confirmed species")

    @property
    def group(self) -> str:
        if self.trip:
            return f"trip:{self.vessel or ''}/{self.trip}"
        return f"observation:{self.observation_uid}"


@dataclass
class ExportSummary:
    written: int = 0
    skipped: int = 0  # confirmed, but the photo is of a type the trainer cannot read
    conflicting: int = 0  # shared photos the reader left out: their labels disagree
    retracted: int = 0  # not-a-fish answers, written as retraction rows
    folder: Path | None = None

    def lines(self, notes: Iterable[str] = ()) -> Iterator[str]:
        """The summary, the caller's ``notes`` (what its reader left out), the next step."""
        yield f"{plural.counted(self.written, 'confirmed photo')} written to {self.folder}"
        if self.skipped:
            yield f"{self.skipped} skipped: their photo type cannot be used for training"
        if self.conflicting:
            yield (
                f"{plural.counted(self.conflicting, 'photo')} left out as conflicting: the"
                " observations of each name different species, or a species and not a fish"
            )
        if self.retracted:
            yield (
                f"{plural.counted(self.retracted, 'catch', 'catches')} answered not a fish:"
                " written as retractions, so an earlier export's label for them is not trained on"
            )
        yield from notes
        if self.written or self.retracted or self.conflicting:
            yield (
                f"next: jaga fish export-training-set --corrections {self.folder}/{CORRECTIONS_CSV}"
                " --species-from PACK --out TRAINING_DIR  (PACK: the species pack the photos"
                " were classified with, so that each species keeps its folder id)"
            )


class CorrectionsExport:
    """Writes corrections into ``folder`` (created; must be empty); use as a context manager."""

    def __init__(self, folder: Path, *, exported_from: str = "device") -> None:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise CorrectionsExportError(f"{folder} is not an empty folder; export into a new one")
        self._folder = folder
        self._created = not folder.exists()
        self._rows: list[tuple[str, ...]] = []
        self._photos: dict[str, str] = {}  # photo uid -> its file, written once
        self._examples: set[tuple[str, tuple[int, int, int, int] | None]] = set()
        self.summary = ExportSummary(folder=folder)
        self.exported_from = exported_from
        # a hub sets its database's time; a device's store, its export_stamp
        self.exported_at = datetime.now(UTC)

    def __enter__(self) -> CorrectionsExport:
        with self._writing():
            self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self._folder / PHOTOS_DIR).mkdir(mode=0o700)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            try:
                with self._writing():
                    self._write_csv()
            except CorrectionsExportError:
                self._remove_written()  # without its CSV the photos are no export
                raise
            return
        self._remove_written()

    def _remove_written(self) -> None:
        shutil.rmtree(self._folder / PHOTOS_DIR, ignore_errors=True)
        (self._folder / f".{CORRECTIONS_CSV}.part").unlink(missing_ok=True)
        if self._created:
            shutil.rmtree(self._folder, ignore_errors=True)

    def add(self, correction: Correction) -> None:
        suffix = SUFFIXES.get(correction.media_type.lower())
        if suffix is None:
            self.summary.skipped += 1
            return
        if hashlib.sha256(correction.photo).hexdigest() != correction.photo_sha256:
            raise CorrectionsExportError(
                f"photo {correction.photo_uid} does not match its sha256; nothing exported"
            )
        example = (correction.photo_uid, correction.crop)
        if example in self._examples:  # a reader that did not settle shared photos
            raise CorrectionsExportError(
                f"photo {correction.photo_uid} is passed twice"
                f"{'' if correction.crop is None else ' with the same box'}; nothing exported"
            )
        self._examples.add(example)
        name = self._photos.get(correction.photo_uid)
        if name is None:  # several fish of one photo share its file
            name = f"{PHOTOS_DIR}/{correction.photo_uid}{suffix}"
            with self._writing():
                _write_file(self._folder / name, correction.photo)
            self._photos[correction.photo_uid] = name
        crop = ("",) * len(CROP_HEADER) if correction.crop is None else correction.crop
        self._rows.append(
            (
                name,
                correction.confirmed_species,
                correction.group,
                correction.observation_uid,
                correction.reviewed_by,
                correction.observed_at,
                correction.pack_version,
                *(str(value) for value in crop),
                correction.status,
                correction.status_reason,
                "",
                "",
                correction.photo_sha256,
            )
        )
        self.summary.written += 1

    def retract(
        self,
        observation_uid: str,
        reviewed_by: str,
        observed_at: str,
        *,
        conflicting: bool = False,
        photo_sha256: str = "",
        crop: tuple[int, int, int, int] | None = None,
    ) -> None:
        """A row taking back any label an earlier export gave ``observation_uid``: a
        reviewer answered that its photo (``photo_sha256``, the fish's box ``crop``) shows
        no fish, or (``conflicting``) its photo is now left out because the observations on
        it disagree. No photo is written."""
        fields = dict.fromkeys(HEADER[: -len(_STAMP)], "")
        fields |= {"observation_uid": observation_uid, "reviewed_by": reviewed_by,
                   "observed_at": observed_at, "photo_sha256": photo_sha256}  # fmt: skip
        fields |= dict(zip(CROP_HEADER, ("",) * 4 if crop is None else map(str, crop), strict=True))
        fields["conflicting" if conflicting else "not_a_fish"] = "1"
        self._rows.append(tuple(fields.values()))
        if not conflicting:
            self.summary.retracted += 1

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The export folder's errors (no room, no permission) as the operator's to act on."""
        try:
            yield
        except OSError as error:
            raise CorrectionsExportError(
                f"cannot write the export in {self._folder}: {error}; nothing exported"
            ) from error

    def _write_csv(self) -> None:
        partial = self._folder / f".{CORRECTIONS_CSV}.part"
        with _private(partial, "w") as handle:
            # Every cell quoted, and text a spreadsheet would run escaped (see the module)
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(HEADER)
            stamp = (stamp_text(self.exported_at), self.exported_from)
            writer.writerows([spreadsheet_cell(c) for c in (*row, *stamp)] for row in self._rows)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(self._folder / CORRECTIONS_CSV)


_STAMP = ("exported_at", "exported_from")  # added to every row as the CSV is written


def stamp_text(moment: datetime) -> str:
    """``exported_at``'s text: ISO 8601's basic form (``20261201T020826.123456Z``), which
    Excel keeps as text, where it would rewrite ``2026-12-01 02:08:26`` in the computer's
    own date format and drop the seconds; Python's ``datetime.fromisoformat`` reads it."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def species_key(species: str) -> str:
    """Case, spacing and Unicode form (NFC or a Mac's NFD) typed by two reviewers do not make
    two species. The training export (``inference.fish.types.species_key``) holds the same
    rule: it reads what this groups."""
    folded = unicodedata.normalize("NFD", species).casefold()
    return unicodedata.normalize("NFC", " ".join(folded.split()))


def _private(path: Path, mode: str) -> IO[Any]:
    """``path`` created new (never through an existing file or link), readable by us only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    if "b" in mode:
        return os.fdopen(descriptor, mode)
    return os.fdopen(descriptor, mode, newline="", encoding="utf-8")


def _write_file(path: Path, data: bytes) -> None:
    with _private(path, "wb") as handle:
        handle.write(data)
