"""What a species pack is: the names of its files, its manifest's format and schemas, the input
contract of its model, and ``SpeciesPack``, the value a verified pack is read into.

Apart from the pack's writing (``inference.fish.pack``) and its reading and verifying
(``inference.fish.pack_reading``) because both build on it, and neither on the other's steps:
these names and shapes are what a writer writes and a reader checks. ``read_json``, the one
way a pack's JSON files are read, is here too: ``SpeciesPack.training`` reads through it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.fish.calibrate import Thresholds
from inference.fish.errors import SpeciesPackError
from inference.fish.graph_contract import INPUT_NAME, input_names
from inference.fish.images import INPUT_SIZE, PAD_VALUE, PREPROCESS_VERSION
from inference.fish.types import Species

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
# A version names the pack's folder on every device, so the hub publishes, and a device
# installs, only a plain name (sync.species_packs.check_version). inference and sync are
# independent of each other (import-linter), so the rule is written in both; a test keeps
# the two equal. Checked here when a pack is built: it was refused only at publishing,
# after a training that may take hours.
VERSION_RULE = "1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
MANIFEST = "manifest.json"
SPECIES_FILE = "species.json"
THRESHOLDS_FILE = "thresholds.json"
CARD_FILE = "card.md"
TRAINING_FILE = "training.json"
HEAD_FILE = "head.json"
INT8_FAMILIARITY_FILE = "familiarity_int8.json"
MODEL_FILES = {"fp32": "species_fp32.onnx", "int8": "species_int8.onnx"}


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
        return read_json(self.root / TRAINING_FILE) if TRAINING_FILE in self.sha256 else {}


def version_problem(version: str) -> str | None:
    """Why ``version`` cannot be a species pack's version (the hub would refuse to publish
    it); None where it can."""
    if _VERSION.fullmatch(version):  # not match: its $ also matches before a final newline
        return None
    return f"a species pack version is {VERSION_RULE} (it names a folder on every device)"


def sides_label(sides: tuple[int, ...]) -> str:
    """``224`` or ``224/160``: a pack's sides in messages and cards."""
    return "/".join(map(str, sides))


def species_json(species: tuple[Species, ...], held_out: tuple[Species, ...]) -> dict[str, Any]:
    def entries(items: tuple[Species, ...]) -> list[dict[str, str]]:
        return [{"id": s.id, "name": s.name} for s in items]

    return {"species": entries(species), "held_out": entries(held_out)}


def schema(sides: tuple[int, ...]) -> int:
    if len(sides) > 1:
        return MULTI_INPUT_PACK_SCHEMA
    return PACK_SCHEMA if sides[0] == INPUT_SIZE else SIZED_PACK_SCHEMA


def int8_familiarity_json(threshold: float, fish_acceptance: float, images: int) -> dict[str, Any]:
    return {
        "familiarity": threshold,
        "fish_acceptance": fish_acceptance,
        "validation_images": images,
        "rules": "The INT8 model's familiarity threshold: the 1 - fish_acceptance quantile of "
        "the INT8 model's familiarity of the validation photos (thresholds.json's rule, on "
        "this model's own values: its familiarity runs lower than the FP32 model's).",
    }


def read_json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpeciesPackError(f"{path} is missing; is {path.parent} a species pack?") from None
    except (OSError, ValueError) as exc:
        raise SpeciesPackError(f"cannot read {path}: {exc}") from exc
    if not isinstance(body, dict):
        raise SpeciesPackError(f"{path} is not a JSON object")
    return body
