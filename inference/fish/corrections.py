"""``jaga fish export-training-set``: confirmed corrections -> a training folder.

The review loop's corrections live in the encrypted store (``sync``), which ``inference`` must
not import; the desktop and sync layers export them as a CSV with the columns
``file,confirmed_species`` and optionally ``group`` (a trip, day or observation id — frames or
crops of one fish must share a group so that they never straddle a split). Any other column
(the exports' provenance: ``observation_uid``, ``reviewed_by``, ``observed_at``,
``pack_version``, ``status``, ``status_reason``, and what later exports add) is passed over
(but ``pack_version``, which ``--add-to`` asks about a species DATA lacks: ``new_species``),
and an export without one reads the same; a non-blank cell past the header or under a blank
heading is refused, as a comma in a hand-edited name not in double quotes leaves one
(``csv_files``). This writes the species-folder
tree ``jaga fish train`` reads, with ``groups.csv`` and ``species.csv``.

A row with ``crop_x,crop_y,crop_w,crop_h`` (the fish's box, when one photo holds several
fish) becomes that box of its photo, written as a lossless PNG; a row whose crop columns
are empty stays the whole photo, copied as it is. Two fish of one photo are two training
images. Every row is checked before anything is written (the photo decodes, the box is
four whole numbers lying inside it, no fish is given two species), so a bad row is an error
naming it. The tree is written in a staging folder beside the output and renamed into place
at the end, so a failure while writing (a full disk) leaves the output folder as it was too.
A fish listed twice (the same photo and box, or the same ``observation_uid``, as in two
overlapping exports put together) is one training image. Several exports' CSVs may be given,
in any order: a fish in two of them takes the later one's species, as the hub's newer
verdict. A row with ``not_a_fish`` 1 (no file, no species, its ``observation_uid``) retracts
that observation: a reviewer answered that its photo shows no fish, so a label an earlier CSV
gave it is dropped (until a later CSV names a species again). A row with ``conflicting`` 1
does the same for an observation whose photo the export left out because the observations
on it disagree (a later one named another species, or not a fish). A CSV holding only such
rows is read like any other; an export before a column existed has none of its rows.

Exports are read in the order they were written, not the order given (``export_order``):
each row carries ``exported_at`` and ``exported_from`` (``hub`` or ``device``). A hub's
export outranks every device's, whatever the times: the hub holds every synced answer and
its times are its database's clock, while a device's clock may be wrong. Exports of one
source go by their times. Those without a time (written before the column) keep the order
given among themselves: listed after every CSV that has one, they are read after them;
listed anywhere else, before them; a note says which. Photos of identical bytes under two
photo ids (two uploads of one picture) are one photo: given one species they are one image;
given two, or a species and a retraction naming the picture by its ``photo_sha256`` ("not a
fish", or a photo of it left out as conflicting), all are left out, with a note, unless an
export read after that retraction labels the picture again.

Reading one CSV's rows is :mod:`~inference.fish.correction_rows`; the order exports are read
in, :mod:`~inference.fish.export_order`; one picture under two photo ids,
:mod:`~inference.fish.same_pictures`; checking the photos and writing the tree,
:mod:`~inference.fish.training_tree`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from inference.fish.added_record import new_set_record, write_record
from inference.fish.correction_rows import (
    RETRACTING,
    Box,
    Correction,
    Written,
    pack_names,
    read_export,
)
from inference.fish.errors import DatasetError
from inference.fish.export_order import export_order
from inference.fish.same_pictures import refusals, same_pictures
from inference.fish.staging import staging_folder
from inference.fish.training_tree import check_images, write_tree
from inference.fish.types import Species


def export_training_set(
    corrections: Path | Sequence[Path],
    out: Path,
    *,
    base: Path | None = None,
    species_pack: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> int:
    """Copy every confirmed image into ``out/<species>/``; return how many were written.

    ``corrections`` is one CSV or several exports' CSVs, in any order (``export_order``): a
    fish in two of them takes the later one's verdict (the hub's newer state), so
    consecutive exports that overlap can be given together. Within one CSV, two verdicts
    for a fish are an error. ``out`` gets the record ``--add-to`` keeps (``added_record``),
    so that a later ``--add-to`` takes back the images written here.
    """
    if out.exists() and any(out.iterdir()):
        raise DatasetError(
            f"{out} is not empty; export into a new folder, or add to a training folder "
            "with --add-to"
        )
    read = _read_all(corrections, base, pack_names(species_pack), say)
    chosen, verdicts = _trainable(read, corrections), read.verdicts
    out.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(out) as staging:  # a killed run's is removed by the next
        try:
            write_tree(chosen, staging)
            write_record(
                staging, new_set_record(staging, chosen, verdicts.retracted, verdicts.pictures)
            )
            staging.chmod(0o755)  # mkdtemp makes it private; training reads it
            if out.exists():
                out.rmdir()  # empty, as checked above
            staging.rename(out)
        except OSError as exc:
            raise DatasetError(f"cannot write the training set to {out}: {exc}") from exc
    return len(chosen)


class Verdicts(NamedTuple):
    chosen: list[Correction]  # one per fish, its latest verdict a species
    retracted: dict[str, Written | None]  # observations whose latest verdict takes their
    # label back, with when it was written
    pictures: dict[str, tuple[str, Box | None]]  # the "not a fish" observations' photo
    # sha256 and box, where their rows carry it: a copy of it is taken back too


def _trainable(read: _Read, corrections: Path | Sequence[Path]) -> list[Correction]:
    """The fish to train on; an error saying why where every one was taken back."""
    if not read.verdicts.chosen:
        raise DatasetError(
            f"every fish in {_listed(corrections)} was {_taken_back(read.reasons)};"
            " nothing to train on"
        )
    return read.verdicts.chosen


def read_verdicts(
    corrections: Path | Sequence[Path],
    base: Path | None,
    names: dict[str, Species],
    say: Callable[[str], None] = lambda _: None,
) -> Verdicts:
    """One correction per fish, each export's CSV read in turn (oldest first, ``export_order``,
    so a fish takes its latest verdict), every photo and box checked before anything is
    written; and the observations the CSVs take back (``--add-to`` removes what it added for
    them), where every fish may be taken back."""
    return _read_all(corrections, base, names, say).verdicts


class _Read(NamedTuple):
    verdicts: Verdicts
    reasons: set[str]  # why fish were taken back: RETRACTING's reasons


def _read_all(
    corrections: Path | Sequence[Path],
    base: Path | None,
    names: dict[str, Species],
    say: Callable[[str], None],
) -> _Read:
    csvs = [corrections] if isinstance(corrections, Path) else list(corrections)
    exports = [(path, read_export(path, base, names)) for path in csvs]
    newest: dict[tuple[str, ...], Correction] = {}
    read_as: dict[tuple[str, ...], int] = {}  # each fish's latest verdict: its export's turn
    for turn, (_, items) in enumerate(export_order(exports, say)):
        newest.update({item.fish(): item for item in items})
        read_as.update(dict.fromkeys((item.fish() for item in items), turn))
    if not newest:  # header-only exports (a day with nothing reviewed) add nothing: alone,
        # there is nothing to train on
        raise DatasetError(
            f"{_listed(corrections)} holds no corrections"
            if len(csvs) == 1
            else f"none of {_listed(corrections)} holds a correction"
        )
    chosen = [item for item in newest.values() if not item.retracted]
    check_images(chosen)
    retracted = {item.observation: item.written for item in newest.values() if item.retracted}
    reasons = {item.retracted for item in newest.values() if item.retracted}
    chosen, conflicting = same_pictures(chosen, refusals(newest, read_as), read_as, say)
    if conflicting:
        reasons.add("conflicting")
    conflicting_written = {item.observation: item.written for item in conflicting}
    pictures = {
        item.observation: (item.photo_sha256, item.crop)
        for item in newest.values()
        if item.retracted == "not_a_fish" and item.photo_sha256
    }
    return _Read(Verdicts(chosen, retracted | conflicting_written, pictures), reasons)


def _taken_back(reasons: set[str]) -> str:
    """What happened to every fish given, where none is left to train on."""
    said = {"not_a_fish": "answered not a fish", "conflicting": "left out as conflicting"}
    return " or ".join(said[reason] for reason in RETRACTING if reason in reasons)


def _listed(corrections: Path | Sequence[Path]) -> str:
    csvs = [corrections] if isinstance(corrections, Path) else list(corrections)
    return ", ".join(str(path) for path in csvs)
