"""Whether ``--add-to`` may give a correction's species a new folder in DATA.

A correction whose species matches no folder of DATA (by folder id or display name, or
through a ``--species-from`` pack) starts a new class. That is right for a species DATA
lacks, and wrong for one of DATA's species under another name (a common name where
species.csv keeps the scientific one, or a folder named by an id that a name cannot be
matched to): the next pack would learn one fish as two classes, each trained against the
other. So such a species is refused, before anything in DATA changes, where DATA cannot
tell that it is new:

- some of DATA's folders are named by ids: a digit in the name (``fish_01``, ``sp3``) or a
  code of two to four capitals (FAO's ``YFT``), whatever species.csv calls them; the name
  may be another name of one of them;
- or the pack that made the prediction (the installed default pack, when a row's
  ``pack_version`` is its version) files the species under a folder DATA has.

The error names each such species, the folder it would get, the folders it might be, and
the ways on: give the folder that name in species.csv, add with ``--species-from PACK``
(the pack's names and ids join DATA's), or, for a species DATA truly lacks, confirm it with
``--new-species NAME``. Beside folders named by their species, a new name is taken as new.
Each new folder is named in a note.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from inference.fish.correction_rows import Correction
from inference.fish.dataset import SPECIES_CSV, FishDataset
from inference.fish.errors import DatasetError, SpeciesPackError
from inference.fish.installed import installed_default_pack
from inference.fish.pack import SpeciesPack, load_pack
from inference.fish.types import Species, species_key

# A folder name that is an id, not a species' name: it holds a digit, or is a short code.
_ID_LIKE = re.compile(r".*\d.*|[A-Z]{2,4}")
_SHOWN_FOLDERS = 6  # of DATA's id-named folders, the first few


class NewSpecies(NamedTuple):
    folder: str  # the folder the add would make
    name: str
    photos: int
    versions: frozenset[str]  # the packs whose predictions were corrected to it


def check_new_species(
    dataset: FishDataset,
    chosen: Sequence[Correction],
    confirmed: Sequence[str],
    say: Callable[[str], None],
) -> list[str]:
    """Refuse the species that would get a new folder in DATA although DATA cannot tell
    they are new, unless ``confirmed`` (``--new-species``) names them. Returns the note of
    each new folder, for the caller to say once the add is made (not before an add that
    fails and is undone)."""
    new = _new_species(dataset, chosen)
    _note_unused(confirmed, new, say)
    keys = {species_key(name) for name in confirmed}
    doubted = [s for s in new if not {species_key(s.name), species_key(s.folder)} & keys]
    doubts = _doubts(dataset, doubted)
    if doubts:
        raise DatasetError(_refusal(dataset.root, doubts))
    return [f"new species: {species.folder}/ ({species.name!r})" for species in new]


def _new_species(dataset: FishDataset, chosen: Sequence[Correction]) -> list[NewSpecies]:
    have = set(dataset.species_ids)
    new: dict[str, NewSpecies] = {}
    for item in chosen:
        if item.species_id in have:
            continue
        seen = new.get(
            item.species_id, NewSpecies(item.species_id, item.species_name, 0, frozenset())
        )
        versions = seen.versions | ({item.pack_version} if item.pack_version else set())
        new[item.species_id] = seen._replace(photos=seen.photos + 1, versions=versions)
    return [new[folder] for folder in sorted(new)]


def _note_unused(
    confirmed: Sequence[str], new: list[NewSpecies], say: Callable[[str], None]
) -> None:
    """A ``--new-species`` name no correction makes new (a typo, or a species DATA has)."""
    keys = {species_key(s.name) for s in new} | {species_key(s.folder) for s in new}
    for name in confirmed:
        if species_key(name) not in keys:
            say(f"--new-species {name!r}: no correction here would make a folder for it")


def _doubts(dataset: FishDataset, doubted: list[NewSpecies]) -> list[tuple[NewSpecies, str]]:
    """Each of ``doubted`` that DATA cannot tell is new, with why; empty where it can."""
    if not doubted:
        return []
    packs = _prediction_packs({version for s in doubted for version in s.versions})
    by_ids = _named_by_ids(dataset)
    doubts = []
    for species in doubted:
        why = _filed_under(species, packs, dataset) or by_ids
        if why:
            doubts.append((species, why))
    return doubts


def _shown(species: NewSpecies) -> str:
    photos = "1 photo" if species.photos == 1 else f"{species.photos} photos"
    return f"{species.name!r} ({photos}, would be {species.folder}/)"


def _named_by_ids(dataset: FishDataset) -> str:
    """DATA's folders named by ids, with their display names, as the reason a name that
    matches none may still be one of them; empty where none is."""
    ids = [s for s in dataset.species if _ID_LIKE.fullmatch(s.id)]
    if not ids:
        return ""
    shown = ", ".join(_folder(s) for s in ids[:_SHOWN_FOLDERS])
    more = f" and {len(ids) - _SHOWN_FOLDERS} more" if len(ids) > _SHOWN_FOLDERS else ""
    named = "" if (dataset.root / SPECIES_CSV).exists() else f" and there is no {SPECIES_CSV}"
    return f"its folders are named by ids ({shown}{more}){named}, so it may be one of them"


def _folder(species: Species) -> str:
    return species.id if species.name == species.id else f"{species.id} ({species.name!r})"


def _prediction_packs(versions: set[str]) -> list[SpeciesPack]:
    """The packs at hand that made the predictions: the installed default pack, where the
    corrections name its version (one that cannot be read tells nothing)."""
    if not versions:
        return []
    try:
        pack = load_pack(installed_default_pack())
    except (SpeciesPackError, OSError):
        return []
    return [pack] if pack.version in versions else []


def _filed_under(species: NewSpecies, packs: list[SpeciesPack], dataset: FishDataset) -> str:
    """Which of DATA's folders a pack that made these predictions gives the species' name."""
    by_id = {s.id: s for s in dataset.species}
    for pack in packs:
        if pack.version not in species.versions:
            continue
        for known in pack.species + pack.held_out:
            if species_key(known.name) == species_key(species.name) and known.id in by_id:
                return (
                    f"the pack that made the prediction, {pack.name} {pack.version}, files it "
                    f"under {_folder(by_id[known.id])}: if so, add with --species-from {pack.root}"
                )
    return ""


def _refusal(root: Path, doubts: list[tuple[NewSpecies, str]]) -> str:
    listed = "; ".join(f"{_shown(species)}: {why}" for species, why in doubts)
    confirm = " ".join(f"--new-species {shlex.quote(species.name)}" for species, _ in doubts)
    return (
        f"nothing was added to {root}: the corrections name species it has no folder for, and"
        f" it cannot tell whether each is a new species or another name of one it has: {listed}."
        f" If one is a species it has, give that folder this name in {SPECIES_CSV}, or add"
        " with --species-from PACK (the pack that made the predictions); if it is new to the"
        f" training data, add with {confirm}"
    )
