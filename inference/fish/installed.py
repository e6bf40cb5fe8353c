"""Where ``jaga models install`` puts the default species pack, and how a device finds it.

Kept apart from :mod:`inference.fish.default_pack`, which builds the pack with onnx: finding
the pack is on the app's path, and a device runs on ONNX Runtime alone.
"""

from __future__ import annotations

from pathlib import Path

from inference.fish.errors import SpeciesPackError
from inference.fish.pack import MANIFEST
from inference.pack.installed import default_pack_dir

DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "fish" / "default"
INSTALLED_FOLDER = "fish-default"


def installed_default_pack() -> Path:
    root = default_pack_dir() / INSTALLED_FOLDER
    if not (root / MANIFEST).exists():
        raise SpeciesPackError(
            f"no default species pack in {root}; build it with: jaga models install "
            f"(or: jaga fish build-pack --head {DEFAULT_ASSETS} --out {root})"
        )
    return root
