"""Species packs on the device: download the announced pack, verify it, unpack it safely.

The hub announces a new pack in the pull stream (``sync.client.apply`` keeps the newest
announcement as ``species_pack.latest``). After a sync's records are done, ``PackInstaller``
fetches that version's archive into a hidden file in the packs folder, checks its size and
sha256 against the announcement, unpacks it into ``<packs folder>/<version>/`` through a
staging folder renamed into place (``sync.species_packs``), and only then records it as
installed. A failure at any step (the link, a wrong byte, an unsafe archive, a full disk)
leaves the installed pack as it was and nothing half-written behind; it is reported, never
raised, because the records have synced and must stay synced, and the next sync tries again.

The pack just installed and the one before it are kept (the app may still be running the
older one); a pack this device installed before those is removed. Sync never loads a pack:
the app asks ``installed_species_pack`` at start-up and reads ``SyncReport.new_species_pack``
after a sync, and the classifier verifies the files against the pack's own manifest.

The packs folder is ``<store folder>/species-packs`` unless ``JAGA_SPECIES_PACKS_DIR`` names
another.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sync.client.errors import SyncClientError
from sync.client.state import SPECIES_PACK_NAME, ensure_schema, put_values, read_values
from sync.client.transport import HubTransport
from sync.species_packs import (
    MAX_ARCHIVE_BYTES,
    RETIRED_PREFIX,
    STAGING_PREFIX,
    PackArchiveError,
    check_version,
    extract_archive,
)
from sync.store import Store

PACKS_DIR_ENV = "JAGA_SPECIES_PACKS_DIR"
INSTALLED_NAME = "species_pack.installed"
ERROR_NAME = "species_pack.error"
DOWNLOAD_PREFIX = ".download-"
_LEFTOVER_PREFIXES = (DOWNLOAD_PREFIX, STAGING_PREFIX, RETIRED_PREFIX)
_log = logging.getLogger(__name__)


class PackDownloadError(SyncClientError):
    """The downloaded bytes are not the announced pack (size or sha256 differ)."""


@dataclass(frozen=True)
class PackRef:
    """A pack as the hub announced it."""

    version: str
    sha256: str
    byte_size: int


@dataclass(frozen=True)
class InstalledPack(PackRef):
    previous: str | None = None  # the version installed before this one (kept on disk)


@dataclass(frozen=True)
class PackOutcome:
    """What one sync did about species packs."""

    installed: Path | None = None  # a pack newly installed this time
    error: str | None = None  # why the announced pack is not installed (retried next sync)


def packs_dir_for(store_path: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where a store's device keeps its species packs."""
    override = (os.environ if env is None else env).get(PACKS_DIR_ENV, "").strip()
    return Path(override) if override else store_path.parent / "species-packs"


def announced_pack(values: Mapping[str, str]) -> PackRef | None:
    """The newest announcement pulled (``sync.client.apply`` keeps it as JSON)."""
    body = _json_object(values.get(SPECIES_PACK_NAME))
    try:
        return PackRef(str(body["version"]), str(body["sha256"]), int(body["byte_size"]))
    except (KeyError, TypeError, ValueError):
        return None  # none pulled, or unreadable: nothing to install


def installed_record(values: Mapping[str, str]) -> InstalledPack | None:
    body = _json_object(values.get(INSTALLED_NAME))
    previous = body.get("previous")
    try:
        return InstalledPack(
            str(body["version"]),
            str(body["sha256"]),
            int(body["byte_size"]),
            str(previous) if previous else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        body = json.loads(text or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def installed_species_pack(store: Store, packs_dir: Path | None = None) -> Path | None:
    """The folder of the pack this device installed last, or None (then the app uses the
    pack it ships with). The classifier still verifies it when it loads it."""
    ensure_schema(store.database)
    record = installed_record(read_values(store.database))
    if record is None:
        return None
    folder = (packs_dir or packs_dir_for(store.path)) / record.version
    return folder if folder.is_dir() else None


class PackInstaller:
    def __init__(self, store: Store, transport: HubTransport, packs_dir: Path) -> None:
        self._store = store
        self._transport = transport
        self._packs_dir = packs_dir

    def install_announced(self) -> PackOutcome:
        """Install the newest announced pack unless it is installed already."""
        values = read_values(self._store.database)
        wanted = announced_pack(values)
        current = installed_record(values)
        if wanted is None or self._holds(current, wanted):
            return PackOutcome()
        try:
            folder = self._install(wanted)
        except (SyncClientError, PackArchiveError, OSError) as error:
            return self._failed(wanted, error)
        previous = current.version if current else None
        self._record(InstalledPack(wanted.version, wanted.sha256, wanted.byte_size, previous))
        if current is not None and current.previous not in (None, wanted.version, current.version):
            self._remove(str(current.previous))
        _log.info("species pack %s installed in %s", wanted.version, folder)
        return PackOutcome(installed=folder)

    def _holds(self, current: PackRef | None, wanted: PackRef) -> bool:
        if current is None:
            return False
        same = (current.version, current.sha256) == (wanted.version, wanted.sha256)
        return same and (self._packs_dir / wanted.version).is_dir()

    def _install(self, wanted: PackRef) -> Path:
        check_version(wanted.version)  # it names a folder here: never "..", never a path
        if not 0 < wanted.byte_size <= MAX_ARCHIVE_BYTES:
            raise PackDownloadError(f"announced with {wanted.byte_size} bytes; refused")
        self._packs_dir.mkdir(parents=True, exist_ok=True)
        self._sweep_leftovers()
        handle, name = tempfile.mkstemp(prefix=DOWNLOAD_PREFIX, suffix=".zip", dir=self._packs_dir)
        archive = Path(name)
        try:
            with os.fdopen(handle, "wb") as sink:
                got = self._transport.download_species_pack(
                    wanted.version, sink, max_bytes=wanted.byte_size
                )
            if (got.byte_size, got.sha256) != (wanted.byte_size, wanted.sha256):
                raise PackDownloadError(
                    f"the download ({got.byte_size} bytes, sha256 {got.sha256[:12]}…) is not"
                    f" the announced pack ({wanted.byte_size} bytes, {wanted.sha256[:12]}…)"
                )
            return extract_archive(archive, self._packs_dir / wanted.version)
        finally:
            archive.unlink(missing_ok=True)

    def _failed(self, wanted: PackRef, error: Exception) -> PackOutcome:
        message = f"species pack {wanted.version} not installed: {error}"
        _log.warning("%s; the installed pack stays, and the next sync tries again", message)
        put_values(self._store.database, {ERROR_NAME: message[:1000]}, self._store.clock.now())
        return PackOutcome(error=message)

    def _record(self, installed: InstalledPack) -> None:
        values = {INSTALLED_NAME: json.dumps(asdict(installed), sort_keys=True), ERROR_NAME: ""}
        put_values(self._store.database, values, self._store.clock.now())

    def _sweep_leftovers(self) -> None:
        """Remove what an install cut short by a crash or power cut left behind."""
        for entry in self._packs_dir.iterdir():
            if entry.name.startswith(_LEFTOVER_PREFIXES):
                _remove_path(entry)

    def _remove(self, version: str) -> None:
        with contextlib.suppress(PackArchiveError):
            _remove_path(self._packs_dir / check_version(version))


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
