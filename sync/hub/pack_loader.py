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

_installed: list[PackRefusal] = []  # at most one: the composition root's


def install(refusal: PackRefusal | None) -> None:
    """Make ``refusal`` the devices' verdict for this process (and the workers it forks);
    None: none (a pack is then refused unpublished)."""
    _installed[:] = [] if refusal is None else [refusal]


def installed() -> PackRefusal | None:
    return _installed[0] if _installed else None


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
