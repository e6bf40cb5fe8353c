"""The default species pack: kept in the repository as its head, rebuilt on install.

``assets/fish/default/`` holds what Jaga made itself and is small: ``head.json`` (the trained
head, float32 in base64), ``species.json``, ``thresholds.json``, ``card.md``,
``training.json`` and ``pack.json`` (name, version, the backbone's sha256 and the sha256 the
rebuilt FP32 model must have). The backbone comes from the model pack, so no weights of
others and no images are in the repository. Rebuilding is deterministic: the same backbone
and head give the same ONNX file, byte for byte, which :func:`build_from_head` checks.

``jaga models install`` calls :func:`ensure_default_pack` once the backbone is in place, so a
fresh install has a usable species pack (FP32; the INT8 model needs calibration photos, which
an install does not have: ``jaga fish build-pack --calibration DIR`` adds it). An install
that rebuilds the pack (a new card, say) keeps an INT8 model added so while it is still right.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import onnx

from inference.fish import export
from inference.fish.calibrate import Thresholds
from inference.fish.dataset import load_dataset
from inference.fish.errors import PackVerificationError, SpeciesPackError
from inference.fish.head import load_head
from inference.fish.images import INPUT_SIZE, FloatArray, round_robin_batches
from inference.fish.installed import (
    DEFAULT_ASSETS,
    KEPT_FILES,
    PACK_INFO,
    DefaultPackCheck,
    check_default_pack,
    read_pack_info,
)
from inference.fish.int8_familiarity import int8_familiarity_file
from inference.fish.pack import (
    HEAD_FILE,
    INT8_FAMILIARITY_FILE,
    MODEL_FILES,
    SPECIES_FILE,
    THRESHOLDS_FILE,
    TRAINING_FILE,
    SpeciesPack,
    load_pack,
    staging_beside,
    write_pack,
)
from inference.fish.pack_leftovers import restore_retired
from inference.pack.files import sha256_of
from inference.pack.installed import ModelState

CALIBRATION_IMAGES = 96


def save_assets(pack: SpeciesPack, folder: Path) -> None:
    """Keep a trained head-mode pack as repository assets (no ONNX, no images)."""
    if HEAD_FILE not in pack.sha256:
        raise SpeciesPackError(
            f"pack {pack.version} has no {HEAD_FILE}: only head mode can be kept"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name in KEPT_FILES:
        shutil.copyfile(pack.root / name, folder / name)
    info = {
        "name": pack.name,
        "version": pack.version,
        "backbone_sha256": pack.backbone_sha256,
        "fp32_sha256": pack.sha256[MODEL_FILES["fp32"]],
    }
    (folder / PACK_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def build_from_head(
    assets: Path,
    out: Path,
    backbone: Path,
    *,
    calibration: Path | None = None,
    int8: Mapping[str, Path] | None = None,
    note: Callable[[str], None] = lambda _: None,
    replace_non_pack: bool = False,
    backbone_sha256: str | None = None,
) -> SpeciesPack:
    """Rebuild the pack from its kept head and the installed backbone into ``out``.

    With ``calibration`` (a folder of species folders, such as the training photos) the INT8
    model is built too; without photos it cannot be, since its activation ranges come from them.
    Its ranges come from the photos there outside the head's validation groups only, so the
    whole training folder can be given without the INT8 model being tuned on the photos it
    is then evaluated on.
    Its familiarity threshold is chosen on its own familiarity of the photos there of the
    pack's validation groups (``training.json``); a folder without them gives it none, and it
    then answers without familiarity (:meth:`SpeciesPack.thresholds_for`), and ``note`` is
    told why (``calibration_note``). Without ``calibration``, ``int8`` (file name -> file)
    is an INT8 model and its familiarity made before on this very FP32 model, kept as
    they are (``ensure_default_pack``), which also replaces a folder at ``out`` that is no
    pack (``replace_non_pack``: the models folder's own, see :func:`write_pack`).
    The models are made in a scratch folder beside ``out`` (:func:`staging_beside`).
    ``backbone_sha256``: the backbone's, where the caller has just read it (the model pack
    checks it against its record as it hands it out), so it is not read again; the rebuilt
    model's own sha256 is checked all the same.
    """
    info = read_pack_info(assets)
    if (backbone_sha256 or sha256_of(backbone)) != info["backbone_sha256"]:
        raise SpeciesPackError(
            f"the head in {assets} was trained on backbone {info['backbone_sha256'][:16]}, "
            f"but {backbone} differs; reinstall the model pack or retrain the head"
        )
    side = load_head(assets / HEAD_FILE).input_size
    with staging_beside(out) as scratch:
        model = scratch / MODEL_FILES["fp32"]
        convert({"backbone": backbone, "head": assets / HEAD_FILE,
                 "thresholds": assets / THRESHOLDS_FILE}, model, {})  # fmt: skip
        if sha256_of(model) != info["fp32_sha256"]:
            raise PackVerificationError(
                f"the rebuilt model's sha256 differs from the one recorded in {assets / PACK_INFO}"
            )
        files: dict[str, Path | dict[str, Any] | str] = {n: assets / n for n in KEPT_FILES}
        if calibration is not None:
            int8_model = scratch / MODEL_FILES["int8"]
            groups = _validation_groups(assets)
            photos = calibration_images(calibration, size=side, exclude_groups=groups)
            said = calibration_note(calibration, groups)
            if said is not None:
                note(said)
            export.quantize_int8(model, int8_model, photos)
            familiarity = _int8_familiarity(assets, int8_model, calibration)
            if said is None and not familiarity and _has_familiarity(assets):
                note(_unlisted_validation_note(calibration))
            files |= {MODEL_FILES["int8"]: int8_model, **familiarity}
        elif int8:
            files |= int8
        return write_pack(
            out, name=info["name"], version=info["version"],
            backbone_sha256=info["backbone_sha256"], build={**files, MODEL_FILES["fp32"]: model},
            input_sizes=(side,), replace_non_pack=replace_non_pack,
        )  # fmt: skip


def _int8_familiarity(assets: Path, int8: Path, photos: Path) -> dict[str, dict[str, Any]]:
    """``familiarity_int8.json`` from the photos of ``photos`` in the head's validation
    groups; nothing where the head has no familiarity or none of them are there."""
    thresholds = Thresholds.from_json(json.loads((assets / THRESHOLDS_FILE).read_text("utf-8")))
    groups = _validation_groups(assets)
    known = {s["id"] for s in json.loads((assets / SPECIES_FILE).read_text("utf-8"))["species"]}
    validation = [s.path for s in load_dataset(photos).samples
                  if s.group in groups and s.species_id in known]  # fmt: skip
    if thresholds.fish_acceptance is None or not validation:
        return {}
    side = load_head(assets / HEAD_FILE).input_size
    body = int8_familiarity_file(int8, validation, (side,), thresholds.fish_acceptance)
    return {INT8_FAMILIARITY_FILE: body}


def _has_familiarity(assets: Path) -> bool:
    thresholds = Thresholds.from_json(json.loads((assets / THRESHOLDS_FILE).read_text("utf-8")))
    return thresholds.fish_acceptance is not None


def _unlisted_validation_note(photos: Path) -> str:
    """What to say where the head's validation groups are in ``photos`` but none under a
    species folder the head lists (folders renamed): no INT8 familiarity threshold."""
    return (
        f"note: the head's validation photos in {photos} are in no species folder the head"
        " lists (species.json: were the folders renamed?), so the INT8 model has no"
        " familiarity threshold of its own and answers without familiarity; give the folder"
        " with the species folders it was trained with"
    )


def ensure_default_pack(
    backbone: Path,
    root: Path,
    *,
    assets: Path = DEFAULT_ASSETS,
    force: bool = False,
    note: Callable[[str], None] = lambda _: None,
    checked: DefaultPackCheck | None = None,
    backbone_sha256: str | None = None,
) -> str:
    """Build the default pack into ``root`` unless it is already this head's, verified.

    Returns ``"built"`` or ``"up to date"``. A pack that fails verification (a damaged or
    altered file) is rebuilt, and so is a ``root`` that holds no pack (emptied, or its
    manifest lost: ``root`` is the installer's); a build that fails leaves whatever was in
    ``root`` untouched.
    An INT8 model ``build-pack --calibration`` added to the pack there is kept when it is
    still right (``_int8_to_keep``): an install has no photos to build it again. ``note``
    is told whether it was kept, and how to build one again where it was not.
    ``checked``: what :func:`check_default_pack` said of ``root`` just before (the
    installer asks first, to find a current pack without importing onnx), so its files
    are not read again; ``backbone_sha256``: as :func:`build_from_head` takes it.
    """
    # A swap killed between its renames left the pack before set aside: put back before
    # its INT8 model is looked for, or a forced build (which checks nothing) drops it.
    restore_retired(root)
    if checked is None and not force:
        checked = check_default_pack(root, assets)
    if not force and checked is not None and checked.state is ModelState.OK:
        return "up to date"
    with staging_beside(root) as scratch:  # swept by the next install if killed
        kept = _int8_to_keep(root, assets, scratch, note, checked)
        build_from_head(
            assets, root, backbone, int8=kept, replace_non_pack=True,
            backbone_sha256=backbone_sha256,
        )  # fmt: skip
    if kept:  # said once the pack holding it is built: a failed build keeps nothing new
        note(f"kept the INT8 model of the species pack in {root}: the FP32 model is the same")
    return "built"


def _int8_to_keep(
    root: Path,
    assets: Path,
    scratch: Path,
    note: Callable[[str], None],
    checked: DefaultPackCheck | None,
) -> dict[str, Path]:
    """The INT8 files of the pack in ``root``, copied to ``scratch`` (the build replaces
    ``root``), when they were made on the FP32 model these assets rebuild (same backbone,
    head and temperature: the same bytes) at the same fish acceptance and validation
    groups (its familiarity threshold's); a new card or species name leaves them right.
    Nothing, and a note saying how to build it again, otherwise; the caller says it was
    kept once the build succeeds. ``checked``: the pack as a check just read it, if one did."""
    if not (root / MODEL_FILES["int8"]).exists():
        return {}
    before = checked.pack if checked is not None else _verified_or_none(root)
    why = "another FP32 model, fish acceptance or validation split than this head's"
    kept = checked.kept if checked is not None else {}
    if before is None or not _same_int8_inputs(before, assets, kept):
        note(
            f"the INT8 model of the species pack in {root} is not kept: it was made for"
            f" {'a pack that no longer verifies' if before is None else why}."
            f" Build it again with: jaga fish build-pack --head {assets} --out {root}"
            " --calibration DIR (DIR: the species folders it was calibrated on)"
        )
        return {}
    names = [n for n in (MODEL_FILES["int8"], INT8_FAMILIARITY_FILE) if n in before.sha256]
    for name in names:
        shutil.copyfile(root / name, scratch / name)
    return {name: scratch / name for name in names}


def _verified_or_none(root: Path) -> SpeciesPack | None:
    try:
        return load_pack(root)
    except (SpeciesPackError, OSError):
        return None


def _same_int8_inputs(before: SpeciesPack, assets: Path, kept: Mapping[str, str]) -> bool:
    """``kept``: the assets' files' sha256 where a check already read them."""
    info = read_pack_info(assets)
    thresholds = kept.get(THRESHOLDS_FILE) or sha256_of(assets / THRESHOLDS_FILE)
    return (
        before.backbone_sha256 == info["backbone_sha256"]
        and before.sha256.get(MODEL_FILES["fp32"]) == info["fp32_sha256"]
        and before.sha256.get(THRESHOLDS_FILE) == thresholds
        and _validation_groups(before.root) == _validation_groups(assets)
    )


def convert(sources: Mapping[str, Path], output: Path, options: Mapping[str, object]) -> None:
    """A converter in the pack installer's shape: backbone ONNX + head + thresholds -> ONNX."""
    if options or set(sources) != {"backbone", "head", "thresholds"}:
        raise SpeciesPackError("the fish species converter takes backbone, head and thresholds")
    head = load_head(sources["head"])
    thresholds = Thresholds.from_json(json.loads(sources["thresholds"].read_text("utf-8")))
    model = export.species_model(onnx.load(sources["backbone"]), head, thresholds.temperature)
    export.save_model(model, output)


def calibration_images(
    root: Path,
    limit: int = CALIBRATION_IMAGES,
    size: int = INPUT_SIZE,
    *,
    exclude_groups: AbstractSet[str] = frozenset(),
) -> list[FloatArray]:
    """Photos of every species folder of ``root`` for INT8 calibration, none of
    ``exclude_groups`` (the head's validation groups: calibrating on the photos the INT8
    model is evaluated on would flatter it). Activation ranges use no labels, so any other
    photos of the species will do."""
    per_species: dict[str, list[Path]] = {}
    for sample in load_dataset(root).samples:
        if sample.group not in exclude_groups:
            per_species.setdefault(sample.species_id, []).append(sample.path)
    if not per_species:
        raise SpeciesPackError(
            f"{root} holds no photo outside the head's validation groups to calibrate INT8 on"
        )
    return round_robin_batches([per_species[k] for k in sorted(per_species)], limit, size=size)


def calibration_note(photos: Path, validation_groups: AbstractSet[str]) -> str | None:
    """What to say of a calibration folder where none of the head's validation groups is
    found: the groups are left out of calibration by name, so such a folder is another data
    set (which calibrates well: ranges need no labels) or the training folder with its
    groups renamed, whose validation photos then set the INT8 ranges unnoticed. A note, not
    a refusal, since the first is a good use; None when a group is found, or the head
    records none."""
    if not validation_groups:
        return None
    if any(s.group in validation_groups for s in load_dataset(photos).samples):
        return None
    return (
        f"note: none of the groups of {photos} is one of the head's {len(validation_groups)}"
        " validation groups (training.json). If it holds the photos the head was trained"
        " on, its groups were renamed (another groups.csv, folders moved): the head's"
        " validation photos may have set the INT8 model's ranges, so an evaluation of it on"
        " them would flatter it; give the folder with the groups it was trained with. The"
        " INT8 model has no familiarity threshold of its own and answers without"
        " familiarity. Other photos of the same species calibrate it as well."
    )


def _validation_groups(assets: Path) -> frozenset[str]:
    training = json.loads((assets / TRAINING_FILE).read_text("utf-8"))
    return frozenset(training.get("split", {}).get("validation_groups", []))
