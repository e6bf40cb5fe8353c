"""Where ``jaga models install`` puts the default species pack, how a device finds it, and
whether the one there is whole and current.

Kept apart from :mod:`inference.fish.default_pack`, which builds the pack with onnx: finding
and checking the pack is on the app's (and ``jaga models verify``'s) path, and a device runs
on ONNX Runtime alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inference.fish.errors import SpeciesPackError
from inference.fish.pack import (
    CARD_FILE,
    HEAD_FILE,
    MODEL_FILES,
    SPECIES_FILE,
    THRESHOLDS_FILE,
    TRAINING_FILE,
    SpeciesPack,
    holds_pack,
    load_pack,
    read_species,
)
from inference.pack.files import sha256_of
from inference.pack.installed import ModelState, default_pack_dir

DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "fish" / "default"
INSTALLED_FOLDER = "fish-default"
PACK_INFO = "pack.json"
# The files of a head-mode pack the repository keeps, copied into the pack as they are.
KEPT_FILES = (HEAD_FILE, SPECIES_FILE, THRESHOLDS_FILE, CARD_FILE, TRAINING_FILE)


def installed_default_pack() -> Path:
    root = default_pack_dir() / INSTALLED_FOLDER
    if not holds_pack(root):
        raise SpeciesPackError(
            f"no default species pack in {root}; build it with: jaga models install "
            f"(or: jaga fish build-pack --head {DEFAULT_ASSETS} --out {root})"
        )
    return root


@dataclass(frozen=True)
class DefaultPackCheck:
    """What reading the pack in a folder against the assets found: its state, and what was
    read on the way, so that a rebuild following the check reads no file again (a Jetson
    reads the pack's 90 MB from its SD card each time)."""

    state: ModelState
    pack: SpeciesPack | None  # read and verified; None where missing or refused
    kept: Mapping[str, str]  # sha256 of each of the assets' KEPT_FILES; empty if missing


def check_default_pack(root: Path, assets: Path = DEFAULT_ASSETS) -> DefaultPackCheck:
    """The pack in ``root`` against ``assets`` (:func:`default_pack_state`), each file read
    once. :class:`SpeciesPackError` if the assets themselves cannot be read."""
    if not holds_pack(root):
        return DefaultPackCheck(ModelState.MISSING, None, {})
    info = read_pack_info(assets)
    try:
        kept = {name: sha256_of(assets / name) for name in KEPT_FILES}
    except OSError as exc:
        raise SpeciesPackError(f"cannot read the default pack's assets: {exc}") from exc
    try:
        pack = load_pack(root)
    except (SpeciesPackError, OSError):
        return DefaultPackCheck(ModelState.MODIFIED, None, kept)
    current = (
        pack.version == info["version"]
        and pack.backbone_sha256 == info["backbone_sha256"]
        and pack.sha256.get(MODEL_FILES["fp32"]) == info["fp32_sha256"]
        and all(pack.sha256.get(name) == digest for name, digest in kept.items())
    )
    return DefaultPackCheck(ModelState.OK if current else ModelState.OUTDATED, pack, kept)


def default_pack_state(root: Path, assets: Path = DEFAULT_ASSETS) -> ModelState:
    """The pack in ``root``, as ``jaga models verify`` reports a model: ``missing``,
    ``modified`` (a file fails its sha256, or the pack cannot be read), ``outdated`` (whole,
    but not built from these assets: a newer head shipped since) or ``ok``.
    :class:`SpeciesPackError` if the assets themselves cannot be read."""
    return check_default_pack(root, assets).state


def is_current(root: Path, assets: Path = DEFAULT_ASSETS) -> bool:
    """Whether ``root`` holds a verified pack built from exactly these assets."""
    try:
        return default_pack_state(root, assets) is ModelState.OK
    except SpeciesPackError:
        return False


def read_pack_info(assets: Path) -> dict[str, str]:
    """``pack.json`` of the assets: name, version, and the backbone's and model's sha256."""
    try:
        info = json.loads((assets / PACK_INFO).read_text(encoding="utf-8"))
        return {k: str(info[k]) for k in ("name", "version", "backbone_sha256", "fp32_sha256")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpeciesPackError(f"{assets / PACK_INFO} is missing or incomplete: {exc}") from exc


def default_species(assets: Path = DEFAULT_ASSETS) -> tuple[str, dict[str, str]]:
    """The default pack's name and version, and its species (id -> name): what every device
    runs until a hub publishes a pack, so the hub checks its first pack against them
    (``sync.hub.pack_loader``). :class:`SpeciesPackError` if the assets cannot be read."""
    info = read_pack_info(assets)
    species, _ = read_species(assets / SPECIES_FILE)
    return f"{info['name']} {info['version']}", {s.id: s.name for s in species}
