"""Reading a species pack back, verified: ``load_pack`` checks every file against the
manifest's sha256 and every input contract against what this code prepares, and refuses the
whole pack at the first thing wrong.

Apart from ``inference.fish.pack`` (the write) because a reader needs none of the write's
steps, and most of the code that uses a pack only reads one (the classifier, the hub's
check before it publishes a pack: ``pack_refusal``). The write reads its staged pack through
it too, so that a pack that would be refused never replaces one that works.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inference.fish.calibrate import Thresholds
from inference.fish.errors import PackVerificationError, SpeciesPackError
from inference.fish.graph_contract import INPUT_SIZE_RANGE, input_names
from inference.fish.pack_format import (
    INT8_FAMILIARITY_FILE,
    MANIFEST,
    MULTI_INPUT_PACK_SCHEMA,
    PACK_FORMAT,
    PACK_SCHEMA,
    SIZED_PACK_SCHEMA,
    SPECIES_FILE,
    THRESHOLDS_FILE,
    SpeciesPack,
    input_contract,
    read_json,
    schema,
    sides_label,
    version_problem,
)
from inference.fish.pack_leftovers import restore_retired
from inference.fish.types import Species
from inference.pack.files import sha256_of


def load_pack(root: Path) -> SpeciesPack:
    """Read and verify a pack; any missing, altered or malformed file refuses the whole pack.

    A pack a killed write left retired beside an empty ``root`` is put back first
    (:func:`restore_retired`)."""
    restore_retired(root)
    manifest = read_json(root / MANIFEST)
    schemas = (PACK_SCHEMA, SIZED_PACK_SCHEMA, MULTI_INPUT_PACK_SCHEMA)
    if manifest.get("format") != PACK_FORMAT or manifest.get("schema") not in schemas:
        raise SpeciesPackError(f"{root} is not a {PACK_FORMAT} (schema {schemas})")
    try:
        files: dict[str, str] = dict(manifest["files"])
        model_files = {str(p): str(f) for p, f in dict(manifest["models"]).items()}
        name, version = str(manifest["name"]), str(manifest["version"])
        backbone = str(manifest["backbone_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(f"{root / MANIFEST} is incomplete: {exc}") from exc
    if problem := version_problem(version):  # every catch carries it to the hub as a name
        raise SpeciesPackError(f"{root / MANIFEST}: {problem}, not {version!r}")
    sides = _input_sizes(manifest, root)
    _verify_files(root, files, version)
    # Only a file of ``files`` was verified (each a plain name in the pack's folder), so a model
    # named by any other path, even one ending in a verified name, is refused.
    if not model_files or any(f not in files for f in model_files.values()):
        raise SpeciesPackError(f"pack {version} in {root} lists no verified model")
    models = {precision: root / f for precision, f in model_files.items()}
    species, held_out = read_species(root / SPECIES_FILE)
    thresholds = _read_thresholds(root / THRESHOLDS_FILE)
    int8 = _read_int8_familiarity(root) if INT8_FAMILIARITY_FILE in files else None
    return SpeciesPack(
        root, name, version, species, held_out, thresholds, models, files, backbone, sides, int8
    )


def pack_refusal(root: Path) -> str | None:
    """Why this release refuses the pack in ``root`` (what :func:`load_pack` says), or None
    when it loads it. The hub asks it before it publishes a pack (``jaga hub publish-pack``),
    so that it never announces a pack every device would refuse."""
    try:
        load_pack(root)
    except SpeciesPackError as error:
        return str(error)
    return None


def _input_sizes(manifest: Mapping[str, Any], root: Path) -> tuple[int, ...]:
    """The side of each of the pack's inputs, if every contract is what this code prepares.

    A pack made for other preprocessing (a new resize rule, BGR, normalised pixels) would
    still run and give confident nonsense, so it is refused instead.
    """
    more = manifest.get("more_inputs", [])
    contracts = [manifest.get("input"), *(more if isinstance(more, list) else [more])]
    sides = tuple(_side(contract, root) for contract in contracts)
    if [c["name"] for c in contracts] != list(input_names(sides)) or len(set(sides)) < len(sides):
        raise SpeciesPackError(f"{root / MANIFEST}: inputs {[c['name'] for c in contracts]} "
                               f"of sides {list(sides)} are not one input per side, named "
                               "for it; the pack is refused")  # fmt: skip
    if schema(sides) != manifest["schema"]:
        raise SpeciesPackError(f"{root / MANIFEST}: a {sides_label(sides)} px pack must not "
                               f"be schema {manifest['schema']}; the pack is refused")  # fmt: skip
    return sides


def _side(contract: object, root: Path) -> int:
    shape = contract.get("shape") if isinstance(contract, dict) else None
    side = shape[2] if isinstance(shape, list) and len(shape) == 4 else None
    low, high = INPUT_SIZE_RANGE
    name = contract.get("name") if isinstance(contract, dict) else None
    if (not isinstance(side, int) or not low <= side <= high or not isinstance(name, str)
            or contract != input_contract(side, name)):  # fmt: skip
        raise SpeciesPackError(
            f"{root / MANIFEST}: the pack's input {contract!r} is not one this version of jaga "
            f"prepares ({input_contract()!r}, {low}-{high} px square); the pack is refused"
        )
    return side


def _verify_files(root: Path, files: Mapping[str, str], version: str) -> None:
    for required in (SPECIES_FILE, THRESHOLDS_FILE):
        if required not in files:
            raise SpeciesPackError(f"pack {version} in {root} has no {required}")
    for file_name, expected in files.items():
        path = root / file_name
        if Path(file_name).name != file_name:
            raise SpeciesPackError(f"pack {version} names a file outside itself: {file_name}")
        if not path.is_file():
            raise PackVerificationError(f"pack {version} in {root}: {file_name} is missing")
        if sha256_of(path) != expected:
            raise PackVerificationError(
                f"pack {version} in {root}: {file_name} does not match its sha256 "
                "(damaged or altered); the pack is refused"
            )


def read_species(path: Path) -> tuple[tuple[Species, ...], tuple[Species, ...]]:
    """A pack's ``species.json``: the species it names and those held out from training."""
    body = read_json(path)
    try:
        species = tuple(Species(str(s["id"]), str(s["name"])) for s in body["species"])
        held_out = tuple(Species(str(s["id"]), str(s["name"])) for s in body.get("held_out", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(f"{path} is not a species list: {exc}") from exc
    ids = [s.id for s in species]
    if not ids or len(set(ids)) != len(ids):
        raise SpeciesPackError(f"{path} must list each species once, and at least one")
    return species, held_out


def _read_thresholds(path: Path) -> Thresholds:
    try:
        return Thresholds.from_json(read_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(f"{path} holds no valid thresholds: {exc}") from exc


def _read_int8_familiarity(root: Path) -> float:
    path = root / INT8_FAMILIARITY_FILE
    try:
        value = float(read_json(path)["familiarity"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(f"{path} holds no familiarity threshold: {exc}") from exc
    if not -1.0 <= value <= 1.0:
        raise SpeciesPackError(f"{path}: familiarity {value} is not a cosine similarity")
    return value
