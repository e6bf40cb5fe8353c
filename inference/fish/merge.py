"""``jaga fish export-training-set --add-to DATA``: confirmed corrections join a training
folder, every image keeping its split group.

A correction of a species DATA already has goes into DATA's folder for it (matched by
folder id or display name, by ``species_key``, before a ``--species-from`` pack's names),
so the review loop never makes a second folder of one species. The images already in DATA
keep the groups ``load_dataset`` gives them: DATA's ``groups.csv`` gains the corrections'
rows and keeps its own as they are; a DATA without one gets one that names each of its
images with the group the folder and name rules give it (``track:7``, ``folder:fish_01/
trip7``, ``file:fish_01/x.png``), which ``load_dataset`` reads back as those very ids, so
a pack trained before finds its recorded validation groups. The corrections keep their
observation or trip groups: frames of one fish never straddle the split.

A photo DATA already holds (byte for byte, or the same box of it) in the same species
folder is not added again: a fish in two overlapping exports, or one export added twice, is
one image. One DATA holds in another species folder (a fish relabelled in a later export)
stops the command, naming both folders, before anything is moved. Nothing in DATA is
overwritten. An image an earlier add wrote for an observation these corrections take back
(not a fish, or its photo now conflicting) is removed, with its ``groups.csv`` row
(``added_record`` says which: only the add's own). The images are written in a hidden
folder inside DATA (which training passes over), moved into the species folders, and the two
CSVs are replaced last, each in one rename.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from inference.fish.added_record import (
    RECORD_CSV,
    Recorded,
    digest,
    kept_out,
    read_record,
    recorded,
    taken_back,
    write_record,
)
from inference.fish.corrections import Correction, pack_names, read_verdicts, write_tree
from inference.fish.csv_files import read_csv
from inference.fish.dataset import GROUPS_CSV, SPECIES_CSV, FishDataset, load_dataset
from inference.fish.errors import DatasetError
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
    say: Callable[[str], None] = lambda _: None,
) -> Added:
    """Add every confirmed image DATA does not already hold to the training folder ``data``,
    and remove those an earlier add wrote for observations the corrections take back."""
    dataset = load_dataset(data)  # a broken DATA is refused as training would refuse it
    names = pack_names(species_pack) | _data_names(dataset.species)
    chosen, retracted = read_verdicts(corrections, base, names, say)
    earlier = read_record(data)
    named = len(chosen)
    chosen = kept_out(earlier, chosen)
    if len(chosen) < named:
        say(
            f"{named - len(chosen)} not added: an export written later, added before, took"
            f" them back ({RECORD_CSV})"
        )
    removing, record = taken_back(data, earlier, retracted)
    labelled = {item.observation for item in chosen}  # named again since it was taken back
    record = [row for row in record if row.file or row.observation not in labelled]
    staging = Path(tempfile.mkdtemp(prefix=".adding-", dir=data))
    try:
        write_tree(chosen, staging)
        staged = _added_files(staging)
        held = _already_held(dataset, staging, staged, leaving=set(removing))
        added = [relative for relative in staged if relative not in held]
        _refuse_clashes(data, [relative for relative in added if relative not in removing])
        for relative in removing:
            (data / relative).unlink()
        for relative in added:
            (data / relative).parent.mkdir(parents=True, exist_ok=True)
            (staging / relative).rename(data / relative)
        rows = _rows(staging / GROUPS_CSV)
        _extend_groups(dataset, [row for row in rows if row[0] not in held], set(removing))
        _extend_species(data, _new_folders(dataset, chosen))
        _drop_emptied(data, removing)
        write_record(data, [*record, *_recorded(data, chosen, added, held, record)])
    except OSError as exc:
        raise DatasetError(f"cannot add the corrections to {data}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Added(len(added), len(held), tuple(removing))


def _recorded(
    data: Path,
    chosen: list[Correction],
    added: list[str],
    held: dict[str, str],
    record: list[Recorded],
) -> list[Recorded]:
    """The record's new rows: each added image's observation, and each observation whose
    image an earlier add wrote already (byte for byte): that image stands for it too. An
    image a user put in DATA is never recorded, so never taken back."""
    by_file = {f"{item.species_id}/{item.target_name()}": item for item in chosen}
    ours = {row.file: row.sha256 for row in record if row.file}
    rows = [
        recorded(f, by_file[f].observation, digest(data / f), by_file[f].written)
        for f in added
        if by_file[f].observation
    ]
    rows += [
        recorded(there, by_file[staged].observation, ours[there], by_file[staged].written)
        for staged, there in held.items()
        if by_file[staged].observation and there in ours
    ]
    return rows


def _drop_emptied(data: Path, removed: list[str]) -> None:
    """A species folder the removals left empty (one an add made for a new species) would
    stop training: it goes, with its species.csv row."""
    emptied = sorted(
        folder
        for folder in {relative.split("/", 1)[0] for relative in removed}
        if (data / folder).is_dir() and not any((data / folder).iterdir())
    )
    for folder in emptied:
        (data / folder).rmdir()
    if emptied and (data / SPECIES_CSV).exists():
        keys = {species_key(folder) for folder in emptied}
        _drop_rows(data / SPECIES_CSV, "folder", lambda cell: species_key(cell) in keys)


def _data_names(species: Sequence[Species]) -> dict[str, Species]:
    """DATA's folder ids and display names -> its species, so a correction joins its folder."""
    return {species_key(s.name): s for s in species} | {species_key(s.id): s for s in species}


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
    """The two-column rows ``write_tree`` wrote (its own CSV: no header quirks to read)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row[0], row[1]) for row in list(csv.reader(handle))[1:]]


def _extend_groups(dataset: FishDataset, added: list[tuple[str, str]], removed: set[str]) -> None:
    path = dataset.root / GROUPS_CSV
    if path.exists():
        if removed:
            _drop_rows(path, "file", lambda cell: cell.replace("\\", "/") in removed)
        _append(path, ("file", "group"), added)
        return
    # the name rules' own groups, written out: the same images stay together as before
    own = [(s.relative, s.group) for s in dataset.samples if s.relative not in removed]
    _replace(path, _csv_text([("file", "group"), *own, *added]))


def _new_folders(dataset: FishDataset, chosen: list[Correction]) -> list[tuple[str, str]]:
    have = set(dataset.species_ids)
    new = {item.species_id: item.species_name for item in chosen if item.species_id not in have}
    return sorted(new.items())


def _extend_species(data: Path, added: list[tuple[str, str]]) -> None:
    path = data / SPECIES_CSV
    if not added:
        return
    if path.exists():
        _append(path, ("folder", "species"), added)
    else:  # DATA's folders are named by their ids, as without the file
        _replace(path, _csv_text([("folder", "species"), *added]))


def _append(path: Path, columns: tuple[str, str], rows: list[tuple[str, str]]) -> None:
    """Add rows to a hand-made or Excel CSV, its text (byte order mark, line ends, column
    order) left as it was."""
    header, _ = read_csv(path)
    order = [header.index(column) for column in columns]
    width = max(order) + 1
    cells = [[""] * width for _ in rows]
    for row, values in zip(cells, rows, strict=True):
        for index, value in zip(order, values, strict=True):
            row[index] = value
    text = path.read_bytes().decode("utf-8")
    ending = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith(("\n", "\r")):
        text += ending
    _replace(path, text + _csv_text(cells, ending))


def _drop_rows(path: Path, column: str, dropped: Callable[[str], bool]) -> None:
    """Remove the rows whose ``column`` cell ``dropped`` picks from a hand-made or Excel
    CSV, the rest of its text (byte order mark, line ends) left as it was. Its rows are one
    line each: ``load_dataset`` has read it, and a path or folder holds no line break."""
    header, _ = read_csv(path)
    index = header.index(column)
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if not dropped(_cell(line, index))]
    _replace(path, "".join(kept))


def _cell(line: str, index: int) -> str:
    cells = next(csv.reader([line]), [])
    return cells[index].strip() if index < len(cells) else ""


def _csv_text(rows: Sequence[Sequence[str]], ending: str = "\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending).writerows(rows)
    return buffer.getvalue()


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.adding")
    temporary.write_bytes(text.encode("utf-8"))
    temporary.replace(path)
