"""The packs folder on disk: where it is, which packs in it the app may load, and the files
an install leaves there.

The packs folder is ``<store folder>/species-packs`` unless ``JAGA_SPECIES_PACKS_DIR`` names
another. Each pack installed is unpacked in a folder named after its version; the app asks
``installed_species_packs`` for the ones it may load (the newest first, then the one kept to
fall back on) and notes the one it verified and uses (``record_pack_in_use``), which the
installer then keeps (``sync.client.packs``). ``pack_damage`` checks an unpacked pack against
its manifest, and the rest names, checks and removes what a download leaves behind. Kept
apart from the installer, which re-exports all of it, as none of it talks to the hub.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from sync.client.pack_records import IN_USE_NAME, installed_record
from sync.client.state import ensure_schema, put_values, read_values
from sync.client.transport import Download
from sync.species_packs import (
    RETIRED_PREFIX,
    STAGING_PREFIX,
    PackArchiveError,
    check_folder_files,
    check_version,
)
from sync.store import Store

PACKS_DIR_ENV = "JAGA_SPECIES_PACKS_DIR"
DOWNLOAD_PREFIX = ".download-"
LEFTOVER_PREFIXES = (DOWNLOAD_PREFIX, STAGING_PREFIX, RETIRED_PREFIX)


def packs_dir_for(store_path: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where a store's device keeps its species packs."""
    override = (os.environ if env is None else env).get(PACKS_DIR_ENV, "").strip()
    return Path(override) if override else store_path.parent / "species-packs"


def installed_species_packs(store: Store, packs_dir: Path | None = None) -> tuple[Path, ...]:
    """The folders of the packs this device keeps, newest first: the one installed last, then
    the one kept to fall back on (the one in use when it was installed). A pack can be whole
    on disk and still be refused when the classifier verifies it (a hub that published a bad
    one, a newer pack schema); the app then falls back to the next."""
    ensure_schema(store.database)
    record = installed_record(read_values(store.database))
    if record is None:
        return ()
    folder = packs_dir or packs_dir_for(store.path)
    versions = [record.version, *([record.previous] if record.previous else [])]
    kept = []
    for version in versions:
        with contextlib.suppress(PackArchiveError):  # a record naming no plain folder
            kept.append(folder / check_version(version))
    return tuple(path for path in kept if path.is_dir())


def record_pack_in_use(store: Store, folder: Path) -> None:
    """Note that the pack in ``folder``, one of ``installed_species_packs``, verified and is
    in use (by the app or ``jaga catch``): the installer keeps it while newer packs arrive.
    Called for a pack of the packs folder only; the default pack needs no keeping."""
    version = check_version(folder.name)
    ensure_schema(store.database)
    if read_values(store.database).get(IN_USE_NAME) != version:
        put_values(store.database, {IN_USE_NAME: version}, store.clock.now())


def pack_damage(folder: Path) -> str | None:
    """Why the pack unpacked in ``folder`` no longer matches its manifest, or None."""
    if not folder.is_dir():
        return f"{folder} is gone"
    try:
        check_folder_files(folder)
    except PackArchiveError as error:
        return str(error)
    return None


def whole_file(archive: Path, answer: Download) -> tuple[int, str]:
    """(size, sha256) of the downloaded file: the answer's own, counted as it arrived, when
    it wrote the whole file; read again only when it continued a cut download."""
    if answer.byte_size == archive.stat().st_size:
        return answer.byte_size, answer.sha256
    return _file_digest(archive)


def _file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256) of a file, read in slices."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
