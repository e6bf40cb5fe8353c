"""``jaga fish export-training-set --add-to DATA``: confirmed corrections join a training
folder, every image keeping its split group.

A correction of a species DATA already has goes into DATA's folder for it (matched by
folder id or display name, by ``species_key``, before a ``--species-from`` pack's names),
so the review loop never makes a second folder of one species. A species that matches no
folder gets a new one only where DATA can tell it is new, or ``--new-species`` names it
(``new_species``); else the add is refused before anything changes, saying how to go on.

The images already in DATA keep the groups ``load_dataset`` gives them: DATA's
``groups.csv`` gains the corrections' rows and keeps its own as they are; a DATA without one
gets one that names each of its images with the group the folder and name rules give it
(``track:7``, ``folder:fish_01/trip7``, ``file:fish_01/x.png``), which ``load_dataset``
reads back as those very ids, so a pack trained before finds its recorded validation
groups. The corrections keep their observation or trip groups: frames of one fish never
straddle the split.

A photo DATA already holds (byte for byte, or the same box of it) in the same species
folder is not added again: a fish in two overlapping exports, or one export added twice, is
one image. One DATA holds in another species folder (a fish relabelled in a later export)
stops the command, naming both folders, before anything is moved. Nothing in DATA is
overwritten. An image an earlier add wrote for an observation these corrections take back
(not a fish, or its photo now conflicting) is removed, with its ``groups.csv`` row
(``added_record`` says which: only the add's own), and a species folder that leaves without
images goes too, with the system files (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``) a
file browser leaves in it, which training passes over as it does every file that is not an
image.

The images are written in a hidden folder inside DATA (which training passes over). The
record is written first, naming every image about to be moved in, so no image the add put
in DATA goes unrecorded; then the images are moved in, the CSVs replaced (each in one
rename), and those taken back moved aside, to be deleted only once the rest is done. Each
step goes through ``add_journal``: a failure part way (a full disk) undoes them in turn
(renames, which need no space), and so does whatever reads DATA next after a power cut or
a kill part way, so DATA is left as it was, and the same command run again completes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from inference.fish.add_journal import Journal, adding_lock, but_for, settle
from inference.fish.added_record import (
    RECORD_CSV,
    Recorded,
    digest,
    kept_out,
    not_refused,
    picture,
    read_record,
    recorded,
    taken_back,
    write_record,
)
from inference.fish.correction_rows import Correction, pack_names
from inference.fish.corrections import read_verdicts
from inference.fish.csv_edits import append_rows, csv_text, drop_rows, write_csv
from inference.fish.csv_files import spreadsheet_text
from inference.fish.dataset import (
    GROUPS_CSV,
    IMAGE_SUFFIXES,
    SPECIES_CSV,
    FishDataset,
    load_dataset,
)
from inference.fish.errors import DatasetError
from inference.fish.new_species import check_new_species
from inference.fish.training_tree import write_tree
from inference.fish.types import Species, species_key


class Added(NamedTuple):
    new: int  # images moved into DATA
    held: int  # images DATA already held in the same species folder, not added again
    removed: tuple[str, ...] = ()  # images an earlier add wrote, taken back (added_record)


def add_training_set(
    corrections: Path | Sequence[Path],
    data: Path,
    *,
    base: Path | None = None,
    species_pack: Path | None = None,
    new_species: Sequence[str] = (),
    say: Callable[[str], None] = lambda _: None,
) -> Added:
    """Add every confirmed image DATA does not already hold to the training folder ``data``,
    and remove those an earlier add wrote for observations the corrections take back.
    ``new_species``: names of species DATA lacks that may get new folders where DATA cannot
    tell they are new (``new_species.check_new_species``)."""
    if not data.is_dir():  # before the lock opens it: the error training gives
        raise DatasetError(f"{data} is not a folder of species folders")
    with adding_lock(data, say):
        settle(data, say)  # an add stopped part way is undone first
        return _add(corrections, data, base, (species_pack, new_species), say)


def _add(
    corrections: Path | Sequence[Path],
    data: Path,
    base: Path | None,
    species: tuple[Path | None, Sequence[str]],
    say: Callable[[str], None],
) -> Added:
    species_pack, new_species = species
    # a broken DATA is refused as training would refuse it; settled already, under our lock
    dataset = load_dataset(data, add_lock_held=True)
    names = pack_names(species_pack) | _data_names(dataset.species)
    chosen, retracted, pictures = read_verdicts(corrections, base, names, say)
    earlier = read_record(data)
    named = len(chosen)
    chosen = kept_out(earlier, chosen)
    if len(chosen) < named:
        say(
            f"{named - len(chosen)} not added: an export written later, added before, took"
            f" them back ({RECORD_CSV})"
        )
    chosen = not_refused(earlier, chosen, say)
    new_folders = check_new_species(dataset, chosen, new_species, say)  # not one fish twice
    removing, record = taken_back(data, earlier, retracted, pictures, say)
    record = _labelled_again(record, chosen, say)
    try:
        journal = Journal(data)
    except OSError as exc:  # a read-only DATA
        raise DatasetError(
            f"cannot add the corrections to {data}: {exc}; nothing was added"
        ) from exc
    try:
        added = _apply(journal, dataset, chosen, (removing, record, earlier), say)
        journal.commit()
        for note in new_folders:
            say(note)
    except BaseException as exc:  # Ctrl-C too: the add is undone here, not left half made
        _undo(journal, data, exc)
        raise
    finally:
        _close(journal, data)
    return added


def _close(journal: Journal, data: Path) -> None:
    """The journal deleted (it stays unless the add is complete or wholly undone); a Ctrl-C
    while a complete add's is deleted says the add was made, not to run it again (whoever
    reads DATA next deletes what is left)."""
    try:
        journal.close()
    except KeyboardInterrupt as exc:
        if journal.committed:
            raise KeyboardInterrupt(_whole(data)) from exc
        raise


def _whole(data: Path) -> str:
    return f"the corrections were added to {data} whole; the summary was not printed"


def _apply(
    journal: Journal,
    dataset: FishDataset,
    chosen: list[Correction],
    records: tuple[list[str], list[Recorded], list[Recorded]],
    say: Callable[[str], None],
) -> Added:
    """Every change of the add, each through the journal: all of it but the commit."""
    data, staging = dataset.root, journal.folder
    removing, record, earlier = records
    write_tree(chosen, staging)
    staged = _added_files(staging)
    held = _already_held(dataset, staging, staged, leaving=set(removing))
    added = [relative for relative in staged if relative not in held]
    _refuse_clashes(data, [relative for relative in added if relative not in removing])
    new_rows = _recorded(staging, chosen, added, held, earlier)
    for name in (RECORD_CSV, GROUPS_CSV, SPECIES_CSV):
        journal.keep(data / name)
    write_record(data, [*earlier, *new_rows], journal.replace)  # first: each image moved in
    for relative in added:  # is recorded
        journal.move(staging / relative, data / relative)
    for relative in removing:  # aside, deleted with the staging folder once all is done
        journal.move(data / relative, staging / ".taken" / relative)
    rows = _rows(staging / GROUPS_CSV)
    groups = [row for row in rows if row[0] not in held]
    _extend_groups(dataset, groups, set(removing), journal)
    _extend_species(data, _new_folders(dataset, chosen), journal)
    _drop_emptied(data, removing, journal, say)
    write_record(data, [*record, *new_rows], journal.replace)
    return Added(len(added), len(held), tuple(removing))


def _undo(journal: Journal, data: Path, exc: BaseException) -> None:
    """The add put back after ``exc``, which is raised again in the project's words: a
    ``DatasetError`` for a failure, a ``KeyboardInterrupt`` saying what DATA holds."""
    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
    try:
        changed = journal.back()
    except DatasetError as failed:
        raise DatasetError(f"cannot add the corrections to {data}: {why}; {failed}") from exc
    if isinstance(exc, OSError):
        raise DatasetError(
            f"cannot add the corrections to {data}: {exc}; {data} is as it was{but_for(changed)}"
            " (run the command again once the cause is mended)"
        ) from exc
    if isinstance(exc, KeyboardInterrupt):
        raise KeyboardInterrupt(
            _whole(data)
            if journal.committed
            else f"nothing was added to {data}{but_for(changed)}; run the command again"
        ) from exc


def _labelled_again(
    record: list[Recorded], chosen: list[Correction], say: Callable[[str], None]
) -> list[Recorded]:
    """The record without the taken-back rows of observations these corrections label again
    (in an export written after the retraction: ``kept_out`` left out the others), each
    named: the photo is added again."""
    labelled = {item.observation for item in chosen}
    again = sorted({row.observation for row in record if not row.file} & labelled)
    if again:
        say(
            f"added again: {', '.join(again)}, taken back before ({RECORD_CSV}), labelled"
            " in an export written after the retraction"
        )
    return [row for row in record if row.file or row.observation not in labelled]


def _recorded(
    staging: Path,
    chosen: list[Correction],
    added: list[str],
    held: dict[str, str],
    record: list[Recorded],
) -> list[Recorded]:
    """The record's new rows: each added image's observation (its bytes read in
    ``staging``, before it is moved in), and each observation whose image an earlier add
    wrote already (byte for byte): that image stands for it too. An image a user put in
    DATA is never recorded, so never taken back."""
    by_file = {f"{item.species_id}/{item.target_name()}": item for item in chosen}
    ours = {row.file: row.sha256 for row in record if row.file}
    rows = [
        recorded(f, it.observation, digest(staging / f), it.written, picture(it))
        for f in added
        for it in [by_file[f]]
        if it.observation
    ]
    rows += [
        recorded(there, it.observation, ours[there], it.written, picture(it))
        for staged, there in held.items()
        for it in [by_file[staged]]
        if it.observation and there in ours
    ]
    return rows


# What a file browser leaves in a folder it showed: training passes over them, as over every
# file that is not an image, so they do not keep a species folder the add emptied.
_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


def _drop_emptied(
    data: Path, removed: list[str], journal: Journal, say: Callable[[str], None]
) -> None:
    """A species folder the removals left without images (one an add made for a new
    species) would stop training: it goes, with its system files and species.csv row. One
    that holds any other file stays, named: it is the user's to sort out."""
    emptied = []
    for folder in sorted({relative.split("/", 1)[0] for relative in removed}):
        path = data / folder
        if _has_images(path):
            continue
        left = list(path.iterdir())
        others = sorted(p.name for p in left if p.name.casefold() not in _SYSTEM_FILES)
        if others:
            say(
                f"{folder}/ holds no image now, but {', '.join(others)}: training refuses a"
                " species folder without images; remove it (and its species.csv row) or"
                " add images"
            )
            continue
        for clutter in left:
            journal.move(clutter, journal.aside / folder / clutter.name)
        journal.remove_folder(path)
        emptied.append(folder)
    if emptied and (data / SPECIES_CSV).exists():
        keys = {species_key(folder) for folder in emptied}
        dropped = lambda cell: species_key(cell) in keys  # noqa: E731
        drop_rows(data / SPECIES_CSV, "folder", dropped, journal)


def _has_images(folder: Path) -> bool:
    """Any image in it, or below (True when it is gone: nothing to drop)."""
    if not folder.is_dir():
        return True
    files = (path for path in folder.rglob("*") if path.is_file())
    return any(path.suffix.lower() in IMAGE_SUFFIXES for path in files)


def _data_names(species: Sequence[Species]) -> dict[str, Species]:
    """DATA's folder ids and display names -> its species, so a correction joins its folder;
    a folder named by its species with ``_`` between the words (``dascyllus_reticulatus``,
    as an export names one) by those words too, before a ``--species-from`` pack's id for
    the name makes a second folder of it."""
    by_words = {species_key(s.id.replace("_", " ")): s for s in species}
    return (
        by_words
        | {species_key(s.name): s for s in species}
        | {species_key(s.id): s for s in species}
    )


def _added_files(staging: Path) -> list[str]:
    return sorted(
        path.relative_to(staging).as_posix()
        for path in staging.glob("*/*")
        if path.is_file()
    )  # fmt: skip


def _already_held(
    dataset: FishDataset, staging: Path, staged: list[str], *, leaving: set[str]
) -> dict[str, str]:
    """The staged images DATA already holds, byte for byte, in the same species folder (a
    fish in two overlapping exports), each with the file that holds it: they are not added
    again. One DATA holds in another species folder (a fish relabelled in a later export)
    stops the add: one photo under two species would train each against the other. Only
    DATA's files of a staged file's size are read; those ``leaving`` (taken back) are not."""
    sizes = {(staging / relative).stat().st_size for relative in staged}
    by_digest = {
        digest(sample.path): sample.relative
        for sample in dataset.samples
        if sample.relative not in leaving and sample.path.stat().st_size in sizes
    }
    held = {}
    for relative in staged:
        there = by_digest.get(digest(staging / relative))
        if there is None:
            continue
        if there.split("/", 1)[0] != relative.split("/", 1)[0]:
            raise DatasetError(
                f"{dataset.root} already holds {there}, the photo these corrections file "
                f"under {relative.split('/', 1)[0]}/ (relabelled in a later export?); "
                "delete the wrong one (and its groups.csv row) first; nothing was added"
            )
        held[relative] = there
    return held


def _refuse_clashes(data: Path, added: list[str]) -> None:
    clashes = [relative for relative in added if os.path.lexists(data / relative)]
    if clashes:
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise DatasetError(
            f"{data} already holds {clashes[0]}{more} (were these corrections added before?); "
            "nothing was added"
        )


def _rows(path: Path) -> list[tuple[str, str]]:
    """The two-column rows ``write_tree`` wrote (its own CSV: no header quirks to read),
    its spreadsheet escape taken off."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    return [(spreadsheet_text(row[0]), spreadsheet_text(row[1])) for row in rows]


def _extend_groups(
    dataset: FishDataset, added: list[tuple[str, str]], removed: set[str], journal: Journal
) -> None:
    path = dataset.root / GROUPS_CSV
    if path.exists():
        if removed:
            drop_rows(path, "file", lambda cell: cell.replace("\\", "/") in removed, journal)
        append_rows(path, ("file", "group"), added, journal)
        return
    # the name rules' own groups, written out: the same images stay together as before
    own = [(s.relative, s.group) for s in dataset.samples if s.relative not in removed]
    write_csv(path, csv_text([("file", "group"), *own, *added]), journal)


def _new_folders(dataset: FishDataset, chosen: list[Correction]) -> list[tuple[str, str]]:
    have = set(dataset.species_ids)
    new = {item.species_id: item.species_name for item in chosen if item.species_id not in have}
    return sorted(new.items())


def _extend_species(data: Path, added: list[tuple[str, str]], journal: Journal) -> None:
    path = data / SPECIES_CSV
    if not added:
        return
    if path.exists():
        append_rows(path, ("folder", "species"), added, journal)
    else:  # DATA's folders are named by their ids, as without the file
        write_csv(path, csv_text([("folder", "species"), *added]), journal)
