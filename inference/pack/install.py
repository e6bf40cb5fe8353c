"""Building the model pack: fetch checked sources, convert, verify, move into place.

A model is either fully installed (its file in place *and* its record written) or not at
all: the record is removed before the file is replaced and written again after (under a
lock a reader waits on, so the app never finds the model missing meanwhile), the
conversion writes to a temporary sibling that is cleaned up on any exception, and an
interrupted install (Ctrl-C, a crash) leaves at worst a model reported as missing. A kill
that runs no cleanup (SIGTERM, SIGHUP, SIGKILL) leaves temporaries, which the next install
removes; one during the species pack's build may also leave the pack before set aside, which
it puts back. A file already in place that hashes to its pinned sha256 is recorded, not
rebuilt: a device without the 'models' extra cannot convert, yet recovers a lost record.

Installing the fish backbone also builds the default fish species pack on it (from the head
kept in ``assets/fish/default``), so a fresh install can classify fish straight away.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inference.errors import ChecksumMismatchError, ConversionError
from inference.fish.config import BACKBONE_ID
from inference.pack.converters import get_converter
from inference.pack.files import (
    remove_leftover_temporaries,
    replace_durably,
    sha256_of,
    temporary_sibling,
)
from inference.pack.installed import RECORD_NAME, InstalledModel, ModelPack, ModelState
from inference.pack.manifest import ModelSpec
from inference.pack.sources import SourceFetcher
from inference.plural import counted

if TYPE_CHECKING:
    from inference.fish.installed import DefaultPackCheck

log = logging.getLogger(__name__)
CARDS_DIR = Path(__file__).resolve().parents[2] / "assets" / "model_cards"
FISH_BACKBONE_ID = BACKBONE_ID  # the default species pack is built on it
FISH_DEFAULT_ID = "fish-default"  # the species pack in install reports (folder: same name)


@dataclass(frozen=True)
class InstallOutcome:
    model_id: str
    action: str  # "built", "up to date" or "recorded" (a pinned build already in place)
    seconds: float


Progress = Callable[[str], None]


def install(
    pack: ModelPack,
    specs: Sequence[ModelSpec],
    *,
    mirror: Path | None = None,
    force: bool = False,
    progress: Progress = log.info,
) -> list[InstallOutcome]:
    """Build ``specs`` into ``pack.root``; returns what was done for each.

    The whole install holds the pack's lock: a second install into the same folder waits for
    this one (and says so through ``progress``), then finds what this one built up to date.
    Holding it, the install first removes the temporaries of an install that was killed and
    sets an unreadable record aside.
    """
    fetcher = SourceFetcher(pack.sources_dir, mirror)  # a mirror that is not there: stop now
    with pack.locked(on_wait=progress):
        _remove_leftovers(pack, progress)
        _set_aside_unreadable_record(pack, progress)
        return _install_all(pack, specs, fetcher, force, progress)


def _remove_leftovers(pack: ModelPack, progress: Progress) -> None:
    removed = sum(remove_leftover_temporaries(d) for d in (pack.root, pack.sources_dir))
    if removed:
        progress(f"removed {counted(removed, 'temporary file')} left by an interrupted install")
    _undo_fish_default_build(pack, progress)


def _undo_fish_default_build(pack: ModelPack, progress: Progress) -> None:
    """A build of the species pack killed half-way leaves its folders beside it, or no pack
    but the one before, set aside (``write_pack``)."""
    from inference.fish.installed import INSTALLED_FOLDER
    from inference.fish.pack import undo_interrupted_writes

    undone = undo_interrupted_writes(pack.root / INSTALLED_FOLDER)
    if undone.restored:
        progress(f"restored the {FISH_DEFAULT_ID} species pack an interrupted build had set aside")
    if undone.removed:
        progress(
            f"removed {counted(undone.removed, 'folder')} left by an interrupted species pack build"
        )


def _set_aside_unreadable_record(pack: ModelPack, progress: Progress) -> None:
    aside = pack.set_aside_unreadable_record()
    if aside is not None:
        progress(
            f"{RECORD_NAME} was unreadable: moved it to {aside.name} and starting a new record "
            f"(a model file that hashes to its pinned sha256 is recorded again as it is; models"
            f" not installed again now show as missing)"
        )


def _install_all(
    pack: ModelPack,
    specs: Sequence[ModelSpec],
    fetcher: SourceFetcher,
    force: bool,
    progress: Progress,
) -> list[InstallOutcome]:
    outcomes = []
    for index, spec in enumerate(specs, start=1):
        progress(f"[{index}/{len(specs)}] {spec.id}")
        outcomes.append(_install_one(pack, spec, fetcher, force=force))
    if any(spec.id == FISH_BACKBONE_ID for spec in specs):
        progress(f"[+] {FISH_DEFAULT_ID} species pack")
        # Checked (or built) just now by _install_one under the lock this install holds: not
        # read through sha256 again. The species pack's rebuild checks what it makes.
        backbone = pack.model(FISH_BACKBONE_ID, hash_file=False)
        outcomes.append(install_fish_default(pack, force=force, note=progress, backbone=backbone))
    return outcomes


def install_fish_default(
    pack: ModelPack,
    *,
    force: bool = False,
    note: Progress = lambda _: None,
    backbone: InstalledModel | None = None,
) -> InstallOutcome:
    """Build (or confirm) the default fish species pack on the installed backbone; ``note``
    is told what became of an INT8 model ``build-pack --calibration`` added to it.
    ``backbone``: the installed backbone where the caller has just checked it.

    A pack that is current is confirmed before the builder (onnx) is imported: a device
    without the 'models' extra re-running the install finds it up to date. What that
    check read is handed to the builder, which reads no installed file again."""
    from inference.fish.installed import INSTALLED_FOLDER

    started = time.perf_counter()
    backbone = backbone or pack.model(FISH_BACKBONE_ID)  # checked against its install record
    root = pack.root / INSTALLED_FOLDER
    checked = None if force else _checked_species_pack(root)
    if checked is not None and checked.state is ModelState.OK:
        return InstallOutcome(FISH_DEFAULT_ID, "up to date", time.perf_counter() - started)
    action = _species_pack_builder()(
        backbone.path, root, force=force, note=note, checked=checked,
        backbone_sha256=backbone.sha256,
    )  # fmt: skip
    return InstallOutcome(FISH_DEFAULT_ID, action, time.perf_counter() - started)


def _checked_species_pack(root: Path) -> DefaultPackCheck | None:
    """The species pack in ``root`` against the assets; None where the assets cannot be
    read (the builder then says why)."""
    from inference.fish.errors import SpeciesPackError
    from inference.fish.installed import check_default_pack

    try:
        return check_default_pack(root)
    except SpeciesPackError:
        return None


def _species_pack_builder() -> Callable[..., str]:
    """``ensure_default_pack``, or the converters' one-line error where onnx is not there."""
    try:
        from inference.fish.default_pack import ensure_default_pack
    except ImportError as exc:
        raise ConversionError(
            f"building the {FISH_DEFAULT_ID} species pack needs the 'models' extra: "
            f"pip install 'jaga[models]' ({exc})"
        ) from exc
    return ensure_default_pack


def _install_one(
    pack: ModelPack, spec: ModelSpec, fetcher: SourceFetcher, *, force: bool
) -> InstallOutcome:
    started = time.perf_counter()
    if not force and pack.state(spec) is ModelState.OK:
        return InstallOutcome(spec.id, "up to date", time.perf_counter() - started)
    if not force and _is_pinned_build(pack, spec):
        pack.write_record(spec, spec.sha256)
        _install_card(pack, spec)
        return InstallOutcome(spec.id, "recorded", time.perf_counter() - started)
    sources = {name: fetcher.fetch(source) for name, source in spec.sources.items()}
    final = pack.root / spec.file
    with temporary_sibling(final) as partial:
        get_converter(spec.converter)(sources, partial, spec.convert)
        built_sha = sha256_of(partial)
        if spec.sha256 is not None and built_sha != spec.sha256:
            raise ChecksumMismatchError(
                f"{spec.id}: the built {spec.file} has sha256 {built_sha}, the manifest pins "
                f"{spec.sha256}; the conversion is not the pinned one (check the versions of "
                f"the 'models' extra). Nothing was installed."
            )
        with pack.replacing():  # a reader waits for these three, never sees them half-done
            pack.write_record(spec, None)
            replace_durably(partial, final)
            pack.write_record(spec, built_sha)
    _install_card(pack, spec)
    return InstallOutcome(spec.id, "built", time.perf_counter() - started)


def _is_pinned_build(pack: ModelPack, spec: ModelSpec) -> bool:
    """Whether the file in place hashes to the sha256 the manifest pins: it is then the
    build, whatever the record says (one set aside as unreadable says nothing). Recording it
    again instead of rebuilding it is what lets a device without the 'models' extra, or
    offline without a mirror, recover from a damaged record."""
    final = pack.root / spec.file
    return spec.sha256 is not None and final.is_file() and sha256_of(final) == spec.sha256


def _install_card(pack: ModelPack, spec: ModelSpec) -> None:
    card = CARDS_DIR / spec.card
    if card.exists():
        (pack.root / "cards").mkdir(exist_ok=True)
        shutil.copyfile(card, pack.root / "cards" / spec.card)
