"""Species packs: a folder holding the species model, its species list, thresholds and card.

``manifest.json`` names the pack, its version and the sha256 of every other file. A pack is
only ever used after :func:`load_pack` has checked every file against it, so a pack damaged
in transit (a partial sync, a bad card) is refused as a whole. Packs are written into a
temporary sibling folder and moved into place in one step: a reader never sees half a pack.

Layout::

    manifest.json       format, version, backbone sha256, input contract, files and sha256s
    species.json        the classes in output order, and the species held out of training
    thresholds.json     temperature, open-set and review thresholds, and the rules that chose them
    card.md             the model card
    training.json       split, counts, configuration, validation metrics
    species_fp32.onnx   backbone + head (+ the INT8 version, species_int8.onnx)
    head.json           the head alone (head mode): what the repository keeps of a default pack
    familiarity_int8.json  the INT8 model's own familiarity threshold (see below)

The INT8 model's familiarity runs lower than the FP32 model's, so the FP32 threshold would
turn away more fish than it was chosen to. An INT8
model is given its own threshold, chosen by the same rule on its own familiarity of the
validation photos, in ``familiarity_int8.json`` (apart from ``thresholds.json``, which a
default pack keeps as the repository has it). An INT8 model of a pack with familiarity but
without that file uses none: :meth:`SpeciesPack.thresholds_for`.

What a pack is (its files, schemas and input contract, ``SpeciesPack``) is in
``inference.fish.pack_format``, its reading and verifying (``load_pack``) in
``inference.fish.pack_reading``, and what a killed write leaves beside it, put right, in
``inference.fish.pack_leftovers``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from inference.fish.errors import SpeciesPackError
from inference.fish.graph_contract import input_names
from inference.fish.images import INPUT_SIZE
from inference.fish.pack_format import (
    CARD_FILE,
    HEAD_FILE,
    INT8_FAMILIARITY_FILE,
    MANIFEST,
    MODEL_FILES,
    MULTI_INPUT_PACK_SCHEMA,
    PACK_FORMAT,
    PACK_SCHEMA,
    SIZED_PACK_SCHEMA,
    SPECIES_FILE,
    THRESHOLDS_FILE,
    TRAINING_FILE,
    SpeciesPack,
    input_contract,
    int8_familiarity_json,
    schema,
    sides_label,
    species_json,
)
from inference.fish.pack_leftovers import (
    RETIRED,
    Leftovers,
    holds_pack,
    restore_retired,
    undo_interrupted_writes,
)
from inference.fish.pack_reading import load_pack, pack_refusal, read_species
from inference.pack.files import fsync_directory, sha256_of, sync_folder

# What other modules and the tests import from here: the write's own names, and those of what
# a pack is (``inference.fish.pack_format``), of its reading (``inference.fish.pack_reading``)
# and of a killed write's leftovers (``inference.fish.pack_leftovers``) that lived here before
# they moved.
__all__ = [
    "CARD_FILE",
    "HEAD_FILE",
    "INT8_FAMILIARITY_FILE",
    "MANIFEST",
    "MODEL_FILES",
    "MULTI_INPUT_PACK_SCHEMA",
    "PACK_FORMAT",
    "PACK_SCHEMA",
    "SIZED_PACK_SCHEMA",
    "SPECIES_FILE",
    "THRESHOLDS_FILE",
    "TRAINING_FILE",
    "Leftovers",
    "SpeciesPack",
    "holds_pack",
    "input_contract",
    "int8_familiarity_json",
    "load_pack",
    "pack_refusal",
    "read_species",
    "restore_retired",
    "sides_label",
    "species_json",
    "staging_beside",
    "undo_interrupted_writes",
    "write_pack",
]


def write_pack(
    destination: Path,
    *,
    name: str,
    version: str,
    backbone_sha256: str,
    build: Mapping[str, Path | dict[str, Any] | str],
    input_sizes: tuple[int, ...] = (INPUT_SIZE,),
    replace_non_pack: bool = False,
) -> SpeciesPack:
    """Write a pack from ``build`` (file name -> a file to move, a JSON body, or text).

    The manifest is computed here. The pack is written, verified and flushed to disk in a
    staging folder beside ``destination``, then renamed into place; a pack already there is
    renamed aside first and removed only once the new one is in its place (a crash between
    the two renames leaves it whole, as ``.<name>.XXXXXXXX.old`` beside ``destination``,
    which :func:`restore_retired` puts back; Ctrl-C there puts it back itself).

    A folder at ``destination`` that is not a pack is refused, unless ``replace_non_pack``
    (the models folder's own ``fish-default``, which only the installer writes: emptied or
    without its manifest, it is replaced like a pack). A link is refused even then: it leads
    to a folder of someone's.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    restore_retired(destination)  # so the pack before is retired, and removed, once more
    staging = _make_staging(destination)
    try:
        for file_name, content in build.items():
            _write_one(staging / file_name, content)
        models = {p: f for p, f in MODEL_FILES.items() if (staging / f).exists()}
        manifest = {
            "format": PACK_FORMAT, "schema": schema(input_sizes), "name": name,
            "version": version, "backbone_sha256": backbone_sha256, **_inputs(input_sizes),
            "models": models, "files": {f: sha256_of(staging / f) for f in sorted(build)},
        }  # fmt: skip
        _write_one(staging / MANIFEST, manifest)
        staged = load_pack(staging)  # a pack that would be refused never replaces one that works
        sync_folder(staging)
        _swap_into_place(staging, destination, replace_non_pack)
        fsync_directory(destination.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # The files verified in staging are the ones now at ``destination``: not hashed again.
    moved = {precision: destination / path.name for precision, path in staged.models.items()}
    return dataclasses.replace(staged, root=destination, models=moved)


@contextlib.contextmanager
def staging_beside(destination: Path) -> Iterator[Path]:
    """A scratch folder for what a build of ``destination`` makes before :func:`write_pack`,
    named as that write names its staging folder and removed after: a build killed there
    leaves it beside the pack, where the next ``jaga models install`` sweeps it with the
    write's own (``undo_interrupted_writes``), not in $TMPDIR, which nothing sweeps."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = _make_staging(destination)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _make_staging(destination: Path) -> Path:
    """A new, empty ``.<name>.XXXXXXXX`` beside ``destination``, readable by the app."""
    while True:
        staging = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}")
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        staging.chmod(0o755)  # whatever the umask: a pack is meant to be read by the app
        return staging


def _inputs(sides: tuple[int, ...]) -> dict[str, Any]:
    if len(set(sides)) != len(sides):
        raise SpeciesPackError(f"a pack takes each side once, not {list(sides)}")
    contracts = [input_contract(s, n) for s, n in zip(sides, input_names(sides), strict=True)]
    more = {"more_inputs": contracts[1:]} if len(contracts) > 1 else {}
    return {"input": contracts[0], **more}


def _write_one(path: Path, content: Path | dict[str, Any] | str) -> None:
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    elif isinstance(content, dict):
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        path.write_text(content, encoding="utf-8")


def _swap_into_place(staging: Path, destination: Path, replace_non_pack: bool) -> None:
    """Rename ``staging`` to ``destination``, the pack there first retired aside and removed
    once the new one is in its place. A reader that finds no pack between the two renames
    puts the retired one back (:func:`restore_retired`): the writer then retires it again,
    as often as that happens (each time needs a reader in that instant). Any other failure,
    Ctrl-C included, puts the pack before back where it was, and raises."""
    retired = staging.with_name(staging.name + RETIRED)
    try:
        _rename_into_place(staging, destination, retired, replace_non_pack)
    except BaseException:  # KeyboardInterrupt too: no reader may find the folder empty
        if retired.exists() and not destination.exists():
            retired.rename(destination)  # the old pack back where it was
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _rename_into_place(
    staging: Path, destination: Path, retired: Path, replace_non_pack: bool
) -> None:
    while True:
        if destination.exists():
            _check_replaceable(destination, replace_non_pack)
            destination.rename(retired)
        try:
            staging.rename(destination)
            return
        except OSError:
            if retired.exists() or not destination.exists():
                raise
            # else a reader put the pack before back: retire it again


def _check_replaceable(destination: Path, replace_non_pack: bool) -> None:
    if (destination / MANIFEST).exists():
        return
    if not replace_non_pack or destination.is_symlink():
        raise SpeciesPackError(f"{destination} exists and is not a species pack; not replacing it")
