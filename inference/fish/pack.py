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
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.fish.calibrate import Thresholds
from inference.fish.errors import PackVerificationError, SpeciesPackError
from inference.fish.graph_contract import INPUT_NAME, INPUT_SIZE_RANGE, input_names
from inference.fish.images import INPUT_SIZE, PAD_VALUE, PREPROCESS_VERSION
from inference.fish.types import Species
from inference.pack.files import fsync_directory, sha256_of, sync_folder

PACK_FORMAT = "jaga-fish-pack"
# Schema 1 readers letterbox every pack to 224 px without reading its input contract. A pack
# of another side is written as schema 2, so that those readers refuse it whole (the previous
# pack stays in use) instead of failing at the first photo; a 224 px pack stays schema 1,
# readable by every device in a fleet that is part way through an upgrade.
PACK_SCHEMA = 1
SIZED_PACK_SCHEMA = 2
# A combined pack whose members were trained at different sides takes one letterboxed crop
# per side (``input``, then ``input_<side>`` in ``more_inputs``), so that no member sees
# pixels resampled from another's. Schema 1 and 2 readers feed ``input`` alone: they refuse it.
MULTI_INPUT_PACK_SCHEMA = 3
MANIFEST = "manifest.json"
SPECIES_FILE = "species.json"
THRESHOLDS_FILE = "thresholds.json"
CARD_FILE = "card.md"
TRAINING_FILE = "training.json"
HEAD_FILE = "head.json"
INT8_FAMILIARITY_FILE = "familiarity_int8.json"
MODEL_FILES = {"fp32": "species_fp32.onnx", "int8": "species_int8.onnx"}
# A write stages its pack in ``.<name>.<8 characters>`` beside ``<name>``, and sets the pack
# before aside as that name plus ``.old``. The 8 characters hold no dot, so the folders of a
# pack whose name only starts the same (``reef.v2`` beside ``reef``) never pass for ``reef``'s.
# Releases before this one named them so too (``tempfile.mkdtemp``'s [a-z0-9_]{8}).
_WRITE_SUFFIX = r"[a-z0-9_]{8}"
_RETIRED = ".old"


def input_contract(size: int = INPUT_SIZE, name: str = INPUT_NAME) -> dict[str, Any]:
    """What one input of the pack's model takes, as this code prepares it; only the side (and
    the name, for a second side) may vary."""
    return {
        "name": name,
        "shape": ["N", 3, size, size],
        "layout": "NCHW",
        "colour": "RGB",
        "range": "0-255",
        "resize": "letterbox",
        "pad_value": PAD_VALUE,
        "preprocess": PREPROCESS_VERSION,
    }


@dataclass(frozen=True)
class SpeciesPack:
    """A verified pack. Only :func:`load_pack` makes these."""

    root: Path
    name: str
    version: str
    species: tuple[Species, ...]
    held_out: tuple[Species, ...]
    thresholds: Thresholds
    models: Mapping[str, Path]  # precision ("fp32", "int8") -> file
    sha256: Mapping[str, str]  # file name -> sha256, as verified
    backbone_sha256: str
    # The sides crops are letterboxed to, one graph input each: one side, or several for a
    # pack combined from members trained at different sides.
    input_sizes: tuple[int, ...] = (INPUT_SIZE,)
    int8_familiarity: float | None = None  # the INT8 model's threshold, chosen on its own

    def thresholds_for(self, precision: str) -> Thresholds:
        """The thresholds the model of ``precision`` answers by: the INT8 model's familiarity
        threshold is its own, and without one it uses no familiarity (never the FP32 one)."""
        t = self.thresholds
        if precision != "int8" or t.familiarity is None:
            return t
        if self.int8_familiarity is None:
            return dataclasses.replace(t, familiarity=None, fish_acceptance=None)
        return dataclasses.replace(t, familiarity=self.int8_familiarity)

    @property
    def input_size(self) -> int:
        """The first input's side (the only one, unless the pack is combined)."""
        return self.input_sizes[0]

    @property
    def input_names(self) -> tuple[str, ...]:
        return input_names(self.input_sizes)

    def model_path(self, precision: str) -> Path:
        try:
            return self.models[precision]
        except KeyError:
            have = ", ".join(sorted(self.models))
            raise SpeciesPackError(
                f"pack {self.version} has no {precision} model (has {have})"
            ) from None

    def training(self) -> dict[str, Any]:
        return _read_json(self.root / TRAINING_FILE) if TRAINING_FILE in self.sha256 else {}


def sides_label(sides: tuple[int, ...]) -> str:
    """``224`` or ``224/160``: a pack's sides in messages and cards."""
    return "/".join(map(str, sides))


def species_json(species: tuple[Species, ...], held_out: tuple[Species, ...]) -> dict[str, Any]:
    def entries(items: tuple[Species, ...]) -> list[dict[str, str]]:
        return [{"id": s.id, "name": s.name} for s in items]

    return {"species": entries(species), "held_out": entries(held_out)}


def write_pack(
    destination: Path,
    *,
    name: str,
    version: str,
    backbone_sha256: str,
    build: Mapping[str, Path | dict[str, Any] | str],
    input_sizes: tuple[int, ...] = (INPUT_SIZE,),
) -> SpeciesPack:
    """Write a pack from ``build`` (file name -> a file to move, a JSON body, or text).

    The manifest is computed here. The pack is written, verified and flushed to disk in a
    staging folder beside ``destination``, then renamed into place; a pack already there is
    renamed aside first and removed only once the new one is in its place (a crash between
    the two renames leaves it whole, as ``.<name>.XXXXXXXX.old`` beside ``destination``,
    which :func:`restore_retired` puts back).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    restore_retired(destination)  # so the pack before is retired, and removed, once more
    staging = _make_staging(destination)
    try:
        for file_name, content in build.items():
            _write_one(staging / file_name, content)
        models = {p: f for p, f in MODEL_FILES.items() if (staging / f).exists()}
        manifest = {
            "format": PACK_FORMAT, "schema": _schema(input_sizes), "name": name,
            "version": version, "backbone_sha256": backbone_sha256, **_inputs(input_sizes),
            "models": models, "files": {f: sha256_of(staging / f) for f in sorted(build)},
        }  # fmt: skip
        _write_one(staging / MANIFEST, manifest)
        staged = load_pack(staging)  # a pack that would be refused never replaces one that works
        sync_folder(staging)
        _swap_into_place(staging, destination)
        fsync_directory(destination.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # The files verified in staging are the ones now at ``destination``: not hashed again.
    moved = {precision: destination / path.name for precision, path in staged.models.items()}
    return dataclasses.replace(staged, root=destination, models=moved)


@dataclass(frozen=True)
class Leftovers:
    """What :func:`undo_interrupted_writes` did."""

    restored: bool  # the pack before was put back in its place
    removed: int  # staging and retired folders removed


def undo_interrupted_writes(destination: Path) -> Leftovers:
    """Undo what a :func:`write_pack` into ``destination`` killed half-way left beside it
    (SIGKILL or a power cut run no cleanup): its staging folder, and the pack before,
    retired as ``.<name>.XXXXXXXX.old``. That one is put back when nothing took its place
    (killed between the two renames, :func:`restore_retired`), else removed. Only call this
    where no other write into ``destination`` runs (``jaga models install`` holds the pack's
    install lock)."""
    restored = restore_retired(destination)
    leftovers = _write_folders(destination, "", _RETIRED)
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return Leftovers(restored, len(leftovers))


def restore_retired(destination: Path) -> bool:
    """Put back the pack a :func:`write_pack` killed between its two renames left retired
    beside an empty ``destination`` (the newest, if several); True if one was.

    Only a rename, safe without a lock: :func:`load_pack` and each write call it, so a
    reader, or the next ``jaga fish train|combine``, finds the pack before whole where it
    was. A concurrent reader that put it back first, or a folder that cannot be written
    (read-only media), leaves this one with nothing to do.
    """
    parent = destination.parent
    if destination.exists() or not parent.is_dir():
        return False
    retired = [p for p in _write_folders(destination, _RETIRED) if (p / MANIFEST).is_file()]
    if not retired:
        return False
    try:
        max(retired, key=lambda path: path.stat().st_mtime).rename(destination)
    except OSError:
        return False
    fsync_directory(parent)
    return True


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


def _write_folders(destination: Path, *endings: str) -> list[Path]:
    """The folders beside ``destination`` named as a write into it names them: its staging
    folder ``.<name>.XXXXXXXX`` followed by one of ``endings`` ("", or ``.old``)."""
    if not destination.parent.is_dir():
        return []
    ending = "|".join(map(re.escape, endings))
    name = re.compile(re.escape(f".{destination.name}.") + _WRITE_SUFFIX + f"(?:{ending})")
    return sorted(p for p in destination.parent.iterdir() if name.fullmatch(p.name))


def _schema(sides: tuple[int, ...]) -> int:
    if len(sides) > 1:
        return MULTI_INPUT_PACK_SCHEMA
    return PACK_SCHEMA if sides[0] == INPUT_SIZE else SIZED_PACK_SCHEMA


def _inputs(sides: tuple[int, ...]) -> dict[str, Any]:
    if len(set(sides)) != len(sides):
        raise SpeciesPackError(f"a pack takes each side once, not {list(sides)}")
    contracts = [input_contract(s, n) for s, n in zip(sides, input_names(sides), strict=True)]
    more = {"more_inputs": contracts[1:]} if len(contracts) > 1 else {}
    return {"input": contracts[0], **more}


def load_pack(root: Path) -> SpeciesPack:
    """Read and verify a pack; any missing, altered or malformed file refuses the whole pack.

    A pack a killed write left retired beside an empty ``root`` is put back first
    (:func:`restore_retired`)."""
    restore_retired(root)
    manifest = _read_json(root / MANIFEST)
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
    if _schema(sides) != manifest["schema"]:
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
    body = _read_json(path)
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
        return Thresholds.from_json(_read_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(f"{path} holds no valid thresholds: {exc}") from exc


def int8_familiarity_json(threshold: float, fish_acceptance: float, images: int) -> dict[str, Any]:
    return {
        "familiarity": threshold,
        "fish_acceptance": fish_acceptance,
        "validation_images": images,
        "rules": "The INT8 model's familiarity threshold: the 1 - fish_acceptance quantile of "
        "the INT8 model's familiarity of the validation photos (thresholds.json's rule, on "
        "this model's own values: its familiarity runs lower than the FP32 model's).",
    }


def _read_int8_familiarity(root: Path) -> float:
    path = root / INT8_FAMILIARITY_FILE
    try:
        value = float(_read_json(path)["familiarity"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(f"{path} holds no familiarity threshold: {exc}") from exc
    if not -1.0 <= value <= 1.0:
        raise SpeciesPackError(f"{path}: familiarity {value} is not a cosine similarity")
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpeciesPackError(f"{path} is missing; is {path.parent} a species pack?") from None
    except (OSError, ValueError) as exc:
        raise SpeciesPackError(f"cannot read {path}: {exc}") from exc
    if not isinstance(body, dict):
        raise SpeciesPackError(f"{path} is not a JSON object")
    return body


def _write_one(path: Path, content: Path | dict[str, Any] | str) -> None:
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    elif isinstance(content, dict):
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        path.write_text(content, encoding="utf-8")


def _swap_into_place(staging: Path, destination: Path) -> None:
    """Rename ``staging`` to ``destination``, the pack there first retired aside and removed
    once the new one is in its place. A reader that finds no pack between the two renames
    puts the retired one back (:func:`restore_retired`): the writer then retires it again,
    as often as that happens (each time needs a reader in that instant). Any other failure
    puts the pack before back where it was, and raises."""
    retired = staging.with_name(staging.name + _RETIRED)
    while True:
        if destination.exists():
            if not (destination / MANIFEST).exists():
                raise SpeciesPackError(
                    f"{destination} exists and is not a species pack; not replacing it"
                )
            destination.rename(retired)
        try:
            staging.rename(destination)
            break
        except OSError:
            if retired.exists():
                retired.rename(destination)  # the old pack back where it was
                raise
            if not destination.exists():
                raise
            # else a reader put the pack before back: retire it again
    shutil.rmtree(retired, ignore_errors=True)
