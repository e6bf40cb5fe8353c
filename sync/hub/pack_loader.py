"""The device's own verdict on a species pack, asked before the hub publishes it.

Sync may not import the classifier, so the composition root (``main.py``) installs its pack
loader's verdict (``inference.fish.pack.pack_refusal``) here once, when ``jaga`` starts:
every ``jaga hub`` command has it, and ``jaga hub run`` forks its gunicorn workers after
that, so the admin's upload in each worker has it too. ``publish_pack_archive`` (the one
place every publication passes) asks it, so no way of publishing announces a pack every
device of this release would refuse (a manifest key missing, another format or schema, no
species, malformed thresholds).

A hub process that has none installed (a bare ``gunicorn sync.hub.wsgi:application``, which
never runs ``main.py``) refuses every pack rather than publish one unchecked, and says how:
publish with ``jaga hub publish-pack``, or serve the hub with ``jaga hub run``.

The composition root installs the default pack's species here too: the first pack the hub
publishes replaces that pack on every device, so it is checked against it as a later pack is
checked against the last published one (``sync.hub.review.check_species_kept``).

Imports no Django: ``jaga`` installs it on a kiosk without the hub extra too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from sync.pack_models import check_pack_models
from sync.species_packs import PackArchiveError, check_manifest_files, extract_archive

PackRefusal = Callable[[Path], str | None]
"""Why a device of this release would refuse the species pack unpacked in a folder, in its
words, or None when it loads it (``inference.fish.pack.pack_refusal``)."""

NO_LOADER = (
    "this hub process cannot ask the devices' pack loader whether they load the pack (it was"
    " not started by `jaga`), so it publishes none: publish it with `jaga hub publish-pack"
    " PACK_DIR`, or serve the hub with `jaga hub run`, whose admin checks uploads"
)

DefaultSpecies = Callable[[], tuple[str, dict[str, str]]]
"""The pack every device runs until the hub publishes one (the default pack ``jaga models
install`` builds): the words that name it, and its species, id -> name
(``inference.fish.installed.default_species``). Raises, in its own words, when that pack's
files cannot be read."""

_installed: list[PackRefusal] = []  # at most one: the composition root's
_default_species: list[DefaultSpecies] = []  # likewise


def install(refusal: PackRefusal | None) -> None:
    """Make ``refusal`` the devices' verdict for this process (and the workers it forks);
    None: none (a pack is then refused unpublished)."""
    _installed[:] = [] if refusal is None else [refusal]


def installed() -> PackRefusal | None:
    return _installed[0] if _installed else None


def install_default_species(source: DefaultSpecies | None) -> None:
    """Make ``source`` tell this process (and the workers it forks) the species of the pack
    devices run before the first publication; None: none (the first pack is then compared
    with nothing)."""
    _default_species[:] = [] if source is None else [source]


def installed_default_species() -> DefaultSpecies | None:
    return _default_species[0] if _default_species else None


def check_pack_archive(data: bytes, shown_as: Path | None = None) -> None:
    """Refuse (``PackArchiveError``) what no device of this release installs: an archive
    that is not a pack's, a model that is not whole, a pack the device's loader refuses (its
    words naming ``shown_as``, the pack's folder, when given)."""
    check_manifest_files(data)
    check_pack_models(data)
    refuse_what_devices_refuse(data, shown_as)


def refuse_what_devices_refuse(data: bytes, shown_as: Path | None = None) -> None:
    """Unpack ``data`` as a device does and raise ``PackArchiveError`` with the words of the
    device's loader if it refuses the pack (naming ``shown_as``, the folder the operator can
    fix, rather than the scratch copy), or ``NO_LOADER`` when none is installed."""
    refusal = installed()
    if refusal is None:
        raise PackArchiveError(NO_LOADER)
    with tempfile.TemporaryDirectory(prefix="jaga-publish-pack-") as scratch:
        unpacked = extract_archive(data, Path(scratch) / "pack")
        reason = refusal(unpacked)
    if reason is not None:
        if shown_as is None:  # an upload: name its files as the archive does
            reason = reason.replace(f"{unpacked}/", "").replace(str(unpacked), "the pack")
        else:
            reason = reason.replace(str(unpacked), str(shown_as))
        raise PackArchiveError(f"every device of this release would refuse it: {reason}")
