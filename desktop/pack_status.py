"""The model pack's state as the window shows it: each model and the default species pack,
with the states ``jaga models verify`` reports.

Checking reads every file through sha256 (about 90 MB for the default pack: 0.1 s with the
files in the page cache, 0.6 s from disk on the development machine, more on a Jetson's SD
card), so the window opens with what it knows without reading a file (``unchecked_summary``:
missing and outdated models, and "not checked yet" for the rest) and shows ``pack_summary``
once a worker has checked them.
"""

from __future__ import annotations

from pathlib import Path

from inference.errors import InferenceError, PackError
from inference.fish.config import BACKBONE_ID
from inference.pack.installed import ModelPack, ModelState

SPECIES_PACK = "fish-default"  # as `jaga models verify` names it
NOT_CHECKED = "not checked yet"
READY = "ready"
NOT_READY = "not ready: run  jaga models install"
CHECKING = "checking checksums…"


def pack_summary(pack: ModelPack) -> str:
    """One line per model and one for the species pack, each file checked against its
    recorded sha256, then whether the pack is ready. Runs for a second or so: call it off
    the GUI thread. A pack whose record cannot be read is said, not raised."""
    try:
        states = {spec.id: str(pack.state(spec)) for spec in pack.manifest.models}
    except PackError as error:
        return _unreadable(pack, error)
    species = _species_pack_state(pack)
    if species is not None:
        states[SPECIES_PACK] = species
    ready = all(state in (ModelState.OK, _SPECIES_OUTDATED) for state in states.values())
    return _lines(pack, states, READY if ready else NOT_READY)


def unchecked_summary(pack: ModelPack) -> str:
    """What ``pack_summary`` can say without reading a file: a missing or outdated model
    (the pack is not ready), or "not checked yet" for each model whose file is there."""
    try:
        states = {spec.id: pack.state(spec, hash_file=False) for spec in pack.manifest.models}
    except PackError as error:
        return _unreadable(pack, error)
    shown = {model: NOT_CHECKED if s is ModelState.OK else str(s) for model, s in states.items()}
    if _has_species_pack(pack):
        shown[SPECIES_PACK] = (
            NOT_CHECKED if _species_manifest(pack).exists() else ModelState.MISSING
        )
    known_bad = any(state != NOT_CHECKED for state in shown.values())
    return _lines(pack, shown, NOT_READY if known_bad else CHECKING)


# A species pack built from an older head is still used (as `jaga models verify` says).
_SPECIES_OUTDATED = "outdated, still used"


def _species_pack_state(pack: ModelPack) -> str | None:
    """The default species pack's state; None where the manifest builds none."""
    from inference.fish.installed import default_pack_state  # hashes; numpy, not ONNX Runtime

    if not _has_species_pack(pack):
        return None
    try:
        state = default_pack_state(_species_manifest(pack).parent)
    except InferenceError as error:  # its assets in the app cannot be read
        return f"cannot be checked ({error})"
    return _SPECIES_OUTDATED if state is ModelState.OUTDATED else str(state)


def _has_species_pack(pack: ModelPack) -> bool:
    return BACKBONE_ID in {spec.id for spec in pack.manifest.models}


def _species_manifest(pack: ModelPack) -> Path:
    from inference.fish.installed import INSTALLED_FOLDER
    from inference.fish.pack import MANIFEST

    return pack.root / INSTALLED_FOLDER / MANIFEST


def _unreadable(pack: ModelPack, error: PackError) -> str:
    return "\n".join([_heading(pack), f"not ready: {error}"])


def _lines(pack: ModelPack, states: dict[str, str], verdict: str) -> str:
    return "\n".join([_heading(pack), *(f"  {m}: {s}" for m, s in states.items()), verdict])


def _heading(pack: ModelPack) -> str:
    return f"Model pack {pack.manifest.version} in {pack.root}"
